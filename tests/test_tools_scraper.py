"""web_scraper: the SSRF guard refuses every non-public address class (however spelled, and
through redirects or names), and a page with boilerplate becomes its article as Markdown."""

from __future__ import annotations

import statistics
import time
from collections.abc import AsyncIterator

import pytest

from parlay.tools.base import ToolFailure
from parlay.tools.netguard import AddressPolicy, check_url, ip_literal, is_public
from parlay.tools.scraper import ScraperLimits, WebScraper
from support.tool_servers import serving, website

REFUSED_URLS = [
    "http://127.0.0.1/", "http://127.8.9.1/", "http://localhost/",
    "http://0x7f000001/", "http://2130706433/", "http://0177.0.0.1/", "http://127.1/",
    "http://0.0.0.0/", "http://[::1]/", "http://[::]/",
    "http://10.1.2.3/", "http://172.16.0.1/", "http://192.168.1.1/",  # private
    "http://169.254.169.254/latest/meta-data/", "http://[fe80::1]/",  # link-local
    "http://100.64.0.1/", "http://100.127.255.254/",  # CGNAT
    "http://224.0.0.1/", "http://239.255.255.250/", "http://[ff02::1]/",  # multicast
    "http://240.0.0.1/", "http://255.255.255.255/", "http://192.0.2.1/",  # reserved / doc
    "http://198.18.0.1/", "http://[fc00::1]/", "http://[2001:db8::1]/",
    "http://[::ffff:127.0.0.1]/", "http://[::ffff:8.8.8.8]/",  # IPv4-mapped IPv6
    "http://[64:ff9b::a00:1]/", "http://[2002:7f00:1::]/",  # NAT64 / 6to4 of private
]


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[str]:
    async with serving(website()) as url:
        yield url


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_every_non_public_address_class_is_refused(url: str) -> None:
    scraper = WebScraper(AddressPolicy())
    try:
        with pytest.raises(ToolFailure) as refused:
            await scraper.scrape(url)
    finally:
        await scraper.aclose()
    assert refused.value.code == "url_not_allowed", refused.value.message


def test_address_classification() -> None:
    assert ip_literal("0x7f000001") == ip_literal("2130706433") == ip_literal("127.0.0.1")
    assert ip_literal("example.com") is None
    assert is_public(ip_literal("8.8.8.8")) and is_public(ip_literal("2606:4700::1111"))
    assert not is_public(ip_literal("::ffff:8.8.8.8"))


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd",
                                 "gopher://example.com/", "http://user:pw@example.com/",
                                 "javascript:alert(1)", "http:///nohost"])
def test_only_plain_http_urls(url: str) -> None:
    with pytest.raises(ToolFailure) as refused:
        check_url(url, AddressPolicy())
    assert refused.value.code in ("url_not_allowed", "invalid_url")


async def test_a_name_that_resolves_to_loopback_is_refused(site: str) -> None:
    scraper = WebScraper(AddressPolicy())
    try:
        with pytest.raises(ToolFailure) as refused:
            await scraper.scrape(f"http://localhost:{_port(site)}/article")
    finally:
        await scraper.aclose()
    assert refused.value.code == "url_not_allowed"
    assert "resolves to" in refused.value.message


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/article",
                                    "http://[::1]:{port}/article",
                                    "http://0x7f000001:{port}/article",
                                    "http://169.254.169.254/latest/meta-data/"])
async def test_a_redirect_to_loopback_is_refused(site: str, target: str) -> None:
    # The operator allows the site's own name; where it redirects is checked again.
    scraper = WebScraper(AddressPolicy(["localhost"]))
    to = target.format(port=_port(site))
    try:
        with pytest.raises(ToolFailure) as refused:
            await scraper.scrape(f"http://localhost:{_port(site)}/redirect?to={to}")
    finally:
        await scraper.aclose()
    assert refused.value.code == "url_not_allowed"


async def test_redirects_are_followed_at_most_five_times(site: str) -> None:
    scraper = WebScraper(AddressPolicy(["localhost"]))
    try:
        with pytest.raises(ToolFailure) as refused:
            await scraper.scrape(f"http://localhost:{_port(site)}/loop/0")
        followed = await scraper.scrape(
            f"http://localhost:{_port(site)}/redirect?to=/article")
    finally:
        await scraper.aclose()
    assert refused.value.code == "too_many_redirects"
    assert followed.data["final_url"].endswith("/article")


async def test_allowed_cidr_reaches_an_internal_site(site: str) -> None:
    scraper = WebScraper(AddressPolicy(["127.0.0.0/8"]))
    try:
        page = await scraper.scrape(f"{site}/article")
    finally:
        await scraper.aclose()
    assert page.data["title"] == "Growing Tomatoes at Home"


async def test_extracts_the_article_and_drops_the_boilerplate(site: str) -> None:
    scraper = WebScraper(AddressPolicy(["localhost"]))
    url = f"http://localhost:{_port(site)}/article"
    try:
        page = await scraper.scrape(url)
        timings = []
        for _ in range(10):
            started = time.perf_counter()
            await scraper.scrape(url)
            timings.append(time.perf_counter() - started)
    finally:
        await scraper.aclose()
    text = page.data["content"]
    assert page.data["title"] == "Growing Tomatoes at Home"
    assert page.data["final_url"] == url
    assert "# Growing Tomatoes at Home" in text and "## Watering schedule" in text
    assert "* Cherry tomatoes LISTMARK1" in text and "LISTMARK2" in text
    assert "TABLEHEAD" in text and "TABLECELL" in text and "---|---" in text
    for boilerplate in ("NAVMARK", "SIDEBARMARK", "FOOTERMARK"):
        assert boilerplate not in text
    print(f"scraper latency on loopback: p50 {statistics.median(timings) * 1000:.1f} ms")


async def test_body_cap_and_content_types(site: str) -> None:
    scraper = WebScraper(AddressPolicy(["localhost"]),
                         ScraperLimits(body_bytes=100_000, text_chars=5_000))
    base = f"http://localhost:{_port(site)}"
    try:
        big = await scraper.scrape(f"{base}/big")
        with pytest.raises(ToolFailure) as binary:
            await scraper.scrape(f"{base}/binary")
        with pytest.raises(ToolFailure) as missing:
            await scraper.scrape(f"{base}/nope")
    finally:
        await scraper.aclose()
    assert big.data["truncated"] and len(big.data["content"]) == 5_000
    assert binary.value.code == "unsupported_content_type"
    assert missing.value.code == "fetch_failed" and "404" in missing.value.message
