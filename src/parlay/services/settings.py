"""User settings: defaults, validation, partial merge, and what they change in replies.

Stored groups hold only the values a user set; reads lay them over the defaults, so a
default changed in code reaches every user who never touched that field. In a PATCH, `null`
restores a field's default (for text fields: clears it).

Contract used by replies and tools:
  preamble_for_user(session, user_id) -> str | None   system preamble from the profile
  tools_enabled_for_user(session, user_id) -> list[ToolView]
  tool_blocked_by(tool, advanced) -> list[str]     the one rule: which switches keep a tool off
  default_model_for_user(session, user_id) -> str | None
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.db.direct import DirectDB
from parlay.db.repositories import settings as repo
from parlay.errors import ValidationFailed
from parlay.services import tools as tool_service
from parlay.services.text import StorableText
from parlay.services.tools import ToolView
from parlay.tools.builtins import BUILTINS_BY_ID

BaseStyle = Literal[
    "Concise", "Friendly", "Professional", "Candid", "Quirky", "Efficient", "Nerdy", "Cynical"
]
DEFAULT_STYLE: BaseStyle = "Friendly"

STYLE_GUIDES: dict[str, str] = {
    "Concise": "answer briefly and directly; skip preamble and filler.",
    "Friendly": "be warm, approachable and encouraging.",
    "Professional": "be precise, polished and businesslike.",
    "Candid": "be direct and honest, including about weaknesses and disagreements.",
    "Quirky": "be playful and imaginative, with light humour where it fits.",
    "Efficient": "be plain and to the point; favour lists and steps over prose.",
    "Nerdy": "be curious and thorough; explain the underlying ideas and details.",
    "Cynical": "be dry and sceptical, with a wry tone, while staying helpful and accurate.",
}


def _text(max_length: int) -> Any:
    return Annotated[StorableText,
                     StringConstraints(strip_whitespace=True, max_length=max_length)]


NickName = _text(100)
Occupation = _text(200)
AboutYou = _text(2000)
Instructions = _text(4000)
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^\S+$")]
Similarity = Annotated[float, Field(ge=0.0, le=1.0)]
MaxItems = Annotated[int, Field(ge=1, le=50)]

# A registry tool id (built-ins, `<server>__<tool>`): ids of tools that no longer exist are
# kept (a server removed and registered again gets the user's choice back), and change nothing.
ToolId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
DISABLED_TOOLS_MAX = 200


def _unique(ids: list[str]) -> list[str]:
    return list(dict.fromkeys(ids))


DisabledTools = Annotated[list[ToolId], Field(max_length=DISABLED_TOOLS_MAX),
                          AfterValidator(_unique)]

PREFERENCES_MAX_BYTES = 16 * 1024
PREFERENCES_MAX_KEYS = 200
PREFERENCE_KEY = Annotated[str, StringConstraints(min_length=1, max_length=100)]

M = TypeVar("M", bound=BaseModel)

_STRICT = ConfigDict(extra="forbid", strict=True)


class ProfileSettings(BaseModel):
    model_config = _STRICT
    base_style: BaseStyle = DEFAULT_STYLE
    nick_name: NickName | None = None
    occupation: Occupation | None = None
    more_about_you: AboutYou | None = None
    custom_instructions: Instructions | None = None


class MemoryConfig(BaseModel):
    model_config = _STRICT
    enabled: bool = False
    # all-MiniLM-L6-v2: a fact relevant to a message scores about 0.3-0.6, unrelated ones < 0.2
    min_similarity: Similarity = 0.35
    max_items: MaxItems = 5
    auto_extract: bool = False


class AdvancedSettings(BaseModel):
    model_config = _STRICT
    web_search_enabled: bool = False
    code_execution_enabled: bool = False
    default_model: ModelName | None = None
    disabled_tools: DisabledTools = Field(default_factory=list)


GROUPS: dict[str, type[BaseModel]] = {
    "profile_settings": ProfileSettings,
    "memory_config": MemoryConfig,
    "advanced_settings": AdvancedSettings,
}


@dataclass(frozen=True, slots=True)
class UserSettingsView:
    profile_settings: ProfileSettings = field(default_factory=ProfileSettings)
    memory_config: MemoryConfig = field(default_factory=MemoryConfig)
    advanced_settings: AdvancedSettings = field(default_factory=AdvancedSettings)
    preferences: dict[str, Any] = field(default_factory=dict)
    updated_at: datetime | None = None


# --- the preamble -------------------------------------------------------------------------

def build_preamble(profile: ProfileSettings) -> str | None:
    """The system preamble for a profile; None while everything is at its default.

    An untouched profile adds nothing, so a new user's requests reach the model as sent.
    Once anything is set, the style line is always included (Friendly too).
    """
    if profile == ProfileSettings():
        return None
    lines = [
        "The user has set these preferences for your replies; follow them unless the "
        "conversation asks otherwise.",
        f"Style: {profile.base_style} - {STYLE_GUIDES[profile.base_style]}",
    ]
    if profile.nick_name:
        lines.append(f"Address the user as: {profile.nick_name}")
    if profile.occupation:
        lines.append(f"The user's occupation: {profile.occupation}")
    if profile.more_about_you:
        lines.append(f"About the user: {profile.more_about_you}")
    if profile.custom_instructions:
        lines.append(f"The user's instructions: {profile.custom_instructions}")
    return "\n".join(lines)


async def preamble_for_user(session: AsyncSession, user_id: str) -> str | None:
    return build_preamble((await load_settings(session, user_id)).profile_settings)


async def default_model_for_user(session: AsyncSession, user_id: str) -> str | None:
    return (await load_settings(session, user_id)).advanced_settings.default_model


async def tools_enabled_for_user(session: AsyncSession, user_id: str) -> list[ToolView]:
    """Tools an admin enabled AND the user's advanced_settings allow, by id."""
    advanced = (await load_settings(session, user_id)).advanced_settings
    return [tool for tool in await tool_service.list_tools(session, enabled=True)
            if (tool.server_id is not None or tool.id in BUILTINS_BY_ID)  # else: a leftover
            and not tool_blocked_by(tool, advanced)]


def tool_blocked_by(tool: ToolView, advanced: AdvancedSettings) -> list[str]:
    """The advanced_settings fields that keep `tool` from this user; empty when they allow it.

    The one rule for every place a tool reaches a user (/v1/mcp, /v1/tools, replies, the
    Responses API, approvals): a built-in's switch (`web_search_enabled` for web_search and
    web_scraper, `code_execution_enabled` for code_executor) must be on, and no tool may be
    in `disabled_tools`. The admin's switch and availability are checked beside this."""
    blocked = []
    builtin = BUILTINS_BY_ID.get(tool.id) if tool.server_id is None else None
    if builtin is not None and builtin.user_gate is not None and not getattr(
            advanced, builtin.user_gate):
        blocked.append(builtin.user_gate)
    if tool.id in advanced.disabled_tools:
        blocked.append("disabled_tools")
    return blocked


def how_to_allow(blocked: list[str]) -> str:
    """What the user changes to get a tool back, for a refusal's message."""
    steps = [f"turn on advanced_settings.{name}" for name in blocked
             if name != "disabled_tools"]
    if "disabled_tools" in blocked:
        steps.append("take it out of advanced_settings.disabled_tools")
    return " and ".join(steps)


# --- reading and writing ------------------------------------------------------------------

async def load_settings(session: AsyncSession, user_id: str) -> UserSettingsView:
    """The user's effective settings (defaults when nothing was ever saved). One SELECT."""
    row = await repo.get(session, user_id)
    if row is None:
        return UserSettingsView()
    return _view(row.profile_settings, row.memory_config, row.advanced_settings,
                 row.preferences, row.updated_at)


async def read_settings(db: DirectDB, user_id: str) -> UserSettingsView:
    """load_settings straight on the database driver (db/direct.py), for GET routes."""
    row = await repo.row(db, user_id)
    return UserSettingsView() if row is None else _view(*row)


def _view(profile: dict[str, Any] | None, memory: dict[str, Any] | None,
          advanced: dict[str, Any] | None, preferences: dict[str, Any] | None,
          updated_at: datetime | None) -> UserSettingsView:
    return UserSettingsView(
        profile_settings=_tolerant(ProfileSettings, profile),
        memory_config=_tolerant(MemoryConfig, memory),
        advanced_settings=_tolerant(AdvancedSettings, advanced),
        preferences=dict(preferences or {}),
        updated_at=updated_at,
    )


async def update_settings(
    session: AsyncSession, user_id: str, patch: dict[str, Any]
) -> UserSettingsView:
    """Merge a partial update. `patch` maps group -> {field: value or None} (None = default);
    `preferences` maps key -> value or None (None removes the key). A whole group given as
    None goes back to its defaults (preferences: emptied)."""
    row = await repo.get_or_create_for_update(session, user_id)
    for group, model in GROUPS.items():
        if group in patch:
            current = {} if patch[group] is None else (getattr(row, group) or {})
            setattr(row, group, _merged_group(model, group, current, patch[group] or {}))
    if "preferences" in patch:
        current = {} if patch["preferences"] is None else (row.preferences or {})
        row.preferences = merge_preferences(current, patch["preferences"] or {})
    await session.commit()
    return await load_settings(session, user_id)


async def update_preferences(
    session: AsyncSession, user_id: str, patch: dict[str, Any]
) -> dict[str, Any]:
    row = await repo.get_or_create_for_update(session, user_id)
    row.preferences = merge_preferences(row.preferences or {}, patch)
    await session.commit()
    return dict(row.preferences)


def merge_preferences(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Shallow merge: a key's value is replaced; null removes the key. Size-capped."""
    merged = _merge(dict(current), patch)
    if len(merged) > PREFERENCES_MAX_KEYS:
        raise ValidationFailed(f"preferences hold at most {PREFERENCES_MAX_KEYS} keys",
                               code="preferences_too_large", param="preferences")
    try:
        encoded = orjson.dumps(merged)
    except orjson.JSONEncodeError as exc:
        raise ValidationFailed(f"preferences cannot be stored: {exc}",
                               code="invalid_preferences", param="preferences") from None
    if _has_nul(merged):  # PostgreSQL JSON cannot hold NUL characters
        raise ValidationFailed("preferences must not contain NUL characters",
                               code="invalid_preferences", param="preferences")
    if len(encoded) > PREFERENCES_MAX_BYTES:
        raise ValidationFailed(
            f"preferences are at most {PREFERENCES_MAX_BYTES} bytes as JSON",
            code="preferences_too_large", param="preferences",
        )
    return orjson.loads(encoded)  # normalised: NaN/Infinity (accepted by the parser) -> null


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def _merge(stored: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            stored.pop(key, None)
        else:
            stored[key] = value
    return stored


def _merged_group(
    model: type[BaseModel], group: str, current: dict[str, Any], patch: dict[str, Any]
) -> dict[str, Any]:
    """The stored form of a group after a patch: validated, normalised, unset keys dropped."""
    values = _merge(dict(current), patch)
    try:
        validated = model.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join([group, *(str(p) for p in first["loc"])])
        raise ValidationFailed(f"{param}: {first['msg']}", param=param) from None
    normalised = validated.model_dump(include=set(values))
    return {key: value for key, value in normalised.items() if value not in (None, "")}


def _tolerant(model: type[M], stored: dict[str, Any] | None) -> M:
    """Validate stored values, dropping any that no longer pass (e.g. a retired enum value)."""
    values = {k: v for k, v in (stored or {}).items() if k in model.model_fields}
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            if error["loc"]:
                values.pop(str(error["loc"][0]), None)
        return model.model_validate(values)
