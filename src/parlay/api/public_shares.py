"""What a share link's viewers reach, without an account: the HTML page at /share/{token},
its JSON at /v1/public/shares/{token}, feedback; and fork (signed in)."""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import datetime
from functools import cache
from importlib import resources
from string import Template
from typing import Any, Literal

from fastapi import APIRouter, status
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import HTMLResponse

from parlay.api.conversations import ConversationOut
from parlay.api.deps import CurrentUser
from parlay.api.ids import TOKEN_PATTERN, ShareToken
from parlay.api.schemas import ERROR_RESPONSES, Data, ViewOut
from parlay.api.shares import FeedbackOut, Shares
from parlay.errors import ApiError, NotFound
from parlay.services.shares import SharedItemView, SharedView
from parlay.web.assets import current_build

router = APIRouter(tags=["public shares"], responses=ERROR_RESPONSES)
GONE = {410: {"model": ERROR_RESPONSES[404]["model"],
              "description": "the link expired (share_expired) or was revoked (share_revoked)"}}


class SharedItem(ViewOut):
    role: str
    content: str
    content_parts: list[dict[str, Any]]
    content_type: str
    status: str
    created_at: datetime


class SharedConversation(BaseModel):
    """What viewers see: no ids, metadata or owner, only the shared messages."""

    object: Literal["shared_conversation"] = "shared_conversation"
    title: str | None
    model: str | None
    shared_at: datetime
    expires_at: datetime | None
    read_only: bool
    allow_feedback: bool
    items: list[SharedItem]
    truncated: bool = Field(description="true when only the first 1000 messages are shown")

    @classmethod
    def of(cls, view: SharedView) -> SharedConversation:
        share = view.share
        return cls(title=view.title, model=view.model,
                   shared_at=share.created_at, expires_at=share.expires_at,
                   read_only=share.read_only, allow_feedback=share.allow_feedback,
                   items=[SharedItem.of(item) for item in view.items],
                   truncated=view.truncated)


class FeedbackCreate(BaseModel):
    # The rule of `_something`, stated in the schema.
    model_config = ConfigDict(json_schema_extra={"anyOf": [
        {"title": "a rating", "required": ["rating"], "properties": {
            "rating": {"type": "integer"}}},
        {"title": "a comment", "required": ["comment"], "properties": {
            "comment": {"type": "string", "pattern": r"\S"}}},
    ]})

    rating: int | None = Field(default=None, ge=1, le=5, description="1 (bad) to 5 (good)")
    comment: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _something(self) -> FeedbackCreate:
        if self.rating is None and not (self.comment or "").strip():
            raise ValueError("send a rating, a comment, or both")
        return self


@router.get("/v1/public/shares/{token}", response_model=Data[SharedConversation],
            responses=GONE)
async def shared_conversation(token: ShareToken, shares: Shares) -> Data[SharedConversation]:
    return Data(data=SharedConversation.of(await shares.view(token)))


@router.post("/v1/public/shares/{token}/feedback", status_code=status.HTTP_201_CREATED,
             response_model=Data[FeedbackOut], responses=GONE)
async def leave_feedback(token: ShareToken, body: FeedbackCreate,
                         shares: Shares) -> Data[FeedbackOut]:
    feedback = await shares.add_feedback(token, body.rating, body.comment)
    return Data(data=FeedbackOut.of(feedback))


@router.post("/v1/public/shares/{token}/fork", status_code=status.HTTP_201_CREATED,
             response_model=Data[ConversationOut], responses=GONE)
async def fork_shared(token: ShareToken, user: CurrentUser,
                      shares: Shares) -> Data[ConversationOut]:
    """Copy the shared messages into a new conversation of the signed-in caller (the owner
    must have shared with `read_only: false`)."""
    return Data(data=ConversationOut.of(await shares.fork(token, user.user_id)))


# -- the HTML page -------------------------------------------------------------------------

@cache
def _template() -> tuple[Template, str]:
    """The page template and its Content-Security-Policy: inline CSS allowed by hash only;
    scripts only Parlay's own (web/static/share/page.js renders replies' Markdown with the
    app's sanitiser and sends feedback)."""
    text = resources.files("parlay").joinpath("web/share.html").read_text(encoding="utf-8")
    match = re.search(r"<style>(.*?)</style>", text, re.DOTALL)
    assert match is not None, "share.html needs its <style> block"
    digest = base64.b64encode(hashlib.sha256(match.group(1).encode()).digest()).decode()
    csp = (f"default-src 'none'; script-src 'self'; style-src 'self' 'sha256-{digest}'; "
           "img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
           "frame-ancestors 'none'")
    return Template(text), csp


def _headers() -> dict[str, str]:
    return {"content-security-policy": _template()[1], "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer", "x-frame-options": "DENY",
            "cache-control": "no-store", "x-robots-tag": "noindex, nofollow"}


def _page(title: str, meta: str, messages: str, note: str, allow_feedback: bool = False) -> str:
    esc = html.escape
    return _template()[0].substitute(
        page_title=esc(title), title=esc(title), meta=meta, messages=messages, note=note,
        assets=f"/assets/{current_build().id}", allow_feedback="true" if allow_feedback else "")


def _message_html(item: SharedItemView) -> str:
    role = html.escape(item.role)
    css = f"{role} incomplete" if item.status == "incomplete" else role
    suffix = " (incomplete)" if item.status == "incomplete" else ""
    return (f'<article class="{css}" data-role="{role}"><div class="role">{role}{suffix}</div>'
            f'<pre class="content">{html.escape(item.content)}</pre></article>')


def render_share_page(view: SharedView) -> str:
    title = view.title or "Shared conversation"
    meta = html.escape(f"Shared {view.share.created_at:%Y-%m-%d %H:%M} UTC"
                       + (f" · model {view.model}" if view.model else ""))
    messages = "\n".join(_message_html(item) for item in view.items)
    if not view.items:
        messages = '<p class="note">This conversation has no messages yet.</p>'
    note = ('<p class="note">Only the first 1000 messages are shown.</p>'
            if view.truncated else "")
    return _page(title, meta, messages, note, view.share.allow_feedback)


_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}
page_router = APIRouter(tags=["public shares"])


@page_router.get("/share/{token}", response_class=HTMLResponse, responses={
    200: {"description": "the conversation", **_HTML},
    404: {"description": "no such link", **_HTML},
    410: {"description": "the link expired or was revoked", **_HTML}})
async def share_page(token: str, shares: Shares) -> HTMLResponse:
    """The shared conversation as a page for people: no sign-in. Readable without scripts;
    Parlay's own script renders the replies' Markdown (sanitised) and the feedback form."""
    try:
        if not re.fullmatch(TOKEN_PATTERN, token):
            raise NotFound("no such share link", code="share_not_found")
        view = await shares.view(token)
    except ApiError as exc:
        if exc.status not in (404, 410):
            raise
        body = _page("Link not available", "", f'<p class="note">{html.escape(exc.message)}</p>',
                     "")
        return HTMLResponse(body, status_code=exc.status, headers=_headers())
    return HTMLResponse(render_share_page(view), headers=_headers())
