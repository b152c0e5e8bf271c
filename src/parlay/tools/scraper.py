"""web_scraper: fetch one public page and return its title and main text as Markdown.

Extraction: readability-lxml finds the article (navigation, sidebars and footers go) and
html2text writes it as Markdown (headings, lists, tables and links kept). Fetching goes
through the SSRF guard (`netguard`): redirects are followed by hand, each hop re-checked.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import aiohttp
import html2text
from readability import Document
from yarl import URL

from parlay import __version__
from parlay.tools.base import ToolFailure, ToolOutput, cap_text
from parlay.tools.netguard import AddressPolicy, BlockedAddress, GuardedResolver, check_url

MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain", "text/markdown", "application/json"})
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclass(frozen=True, slots=True)
class ScraperLimits:
    body_bytes: int = 2 * 1024 * 1024  # bytes read from the page; the rest is ignored
    text_chars: int = 20_000  # characters of Markdown returned
    total_seconds: float = 20.0
    connect_seconds: float = 5.0


class WebScraper:
    def __init__(self, policy: AddressPolicy, limits: ScraperLimits | None = None) -> None:
        self.policy = policy
        self.limits = limits or ScraperLimits()
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # One connection per fetch: every fetch resolves and vets its addresses anew, and
            # no connection outlives the call that the guard approved it for.
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.policy),
                                             use_dns_cache=False, force_close=True, limit=32)
            timeout = aiohttp.ClientTimeout(total=self.limits.total_seconds,
                                            sock_connect=self.limits.connect_seconds)
            # trust_env=False: HTTP(S)_PROXY from the environment never applies here.
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, trust_env=False,
                headers={"User-Agent": f"Parlay/{__version__} (web_scraper)",
                         "Accept": "text/html,application/xhtml+xml,text/plain;q=0.8"})
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def scrape(self, raw_url: str) -> ToolOutput:
        url = check_url(raw_url, self.policy)
        try:
            final_url, content_type, charset, body, truncated = await self._fetch(url)
        except TimeoutError:
            raise ToolFailure("fetch_timeout", "the page did not answer in time") from None
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, BlockedAddress) or isinstance(exc.__cause__,
                                                                       BlockedAddress):
                raise ToolFailure("url_not_allowed", str(exc.__cause__ or exc.os_error)
                                  ) from None
            raise ToolFailure("fetch_failed", f"cannot resolve {url.host}") from None
        except aiohttp.ClientError as exc:
            raise ToolFailure("fetch_failed", f"cannot fetch the page: {type(exc).__name__}"
                              ) from None
        if content_type in HTML_TYPES:
            title, markdown = await asyncio.to_thread(extract_article, body, charset)
        elif content_type in TEXT_TYPES:
            title, markdown = "", body.decode(charset or "utf-8", errors="replace")
        else:
            raise ToolFailure("unsupported_content_type",
                              f"the page is {content_type or 'of no stated type'}, not HTML "
                              "or text")
        markdown, cut = cap_text(markdown, self.limits.text_chars)
        text = (f"# {title}\n\n" if title else "") + f"URL: {final_url}\n\n{markdown}"
        return ToolOutput(text=text, data={
            "url": str(url), "final_url": str(final_url), "title": title,
            "content": markdown, "truncated": truncated or cut})

    async def _fetch(self, url: URL) -> tuple[URL, str, str | None, bytes, bool]:
        session = self._client()
        for _hop in range(MAX_REDIRECTS + 1):
            async with session.get(url, allow_redirects=False) as response:
                if response.status in REDIRECTS and "Location" in response.headers:
                    url = check_url(str(url.join(URL(response.headers["Location"]))),
                                    self.policy)
                    continue
                if response.status >= 400:
                    raise ToolFailure("fetch_failed", f"the page answered HTTP {response.status}")
                body, truncated = await self._read_capped(response)
                return url, response.content_type, response.charset, body, truncated
        raise ToolFailure("too_many_redirects", f"more than {MAX_REDIRECTS} redirects")

    async def _read_capped(self, response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        cap = self.limits.body_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            chunks.append(chunk)
            size += len(chunk)
            if size > cap:
                return b"".join(chunks)[:cap], True
        return b"".join(chunks), False


def extract_article(body: bytes, charset: str | None) -> tuple[str, str]:
    """(title, Markdown of the main content). CPU-bound: run it in a thread."""
    html: str | bytes = body.decode(charset, errors="replace") if charset else body
    document = Document(html)
    converter = html2text.HTML2Text()
    converter.body_width = 0  # no hard wrapping
    converter.ignore_images = True
    converter.unicode_snob = True
    markdown = converter.handle(document.summary(html_partial=True))
    lines = "\n".join(line.rstrip() for line in markdown.splitlines())
    return document.short_title().strip(), _BLANK_LINES.sub("\n\n", lines).strip()
