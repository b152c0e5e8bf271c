"""/v1/users/me/settings: profile, memory, advanced settings and free-form UI preferences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from starlette.responses import Response

from parlay.api.deps import CurrentUser, DirectDep, SessionDep
from parlay.api.schemas import ERROR_RESPONSES, Data
from parlay.db.direct import DirectDB
from parlay.services import settings as service
from parlay.services.settings import (
    PREFERENCE_KEY,
    AboutYou,
    AdvancedSettings,
    BaseStyle,
    DisabledTools,
    Instructions,
    MaxItems,
    MemoryConfig,
    ModelName,
    NickName,
    Occupation,
    ProfileSettings,
    Similarity,
)

router = APIRouter(prefix="/v1/users/me/settings", tags=["settings"], responses=ERROR_RESPONSES)

# PATCH bodies: every field optional; a field left out keeps its value, null restores its
# default (text: clears it). Unknown keys and wrong types are refused (422 naming the field).
_PATCH = ConfigDict(extra="forbid", strict=True)
Preferences = dict[PREFERENCE_KEY, Any]


class ProfilePatch(BaseModel):
    model_config = _PATCH
    base_style: BaseStyle | None = None
    nick_name: NickName | None = None
    occupation: Occupation | None = None
    more_about_you: AboutYou | None = None
    custom_instructions: Instructions | None = None


class MemoryPatch(BaseModel):
    model_config = _PATCH
    enabled: bool | None = None
    min_similarity: Similarity | None = None
    max_items: MaxItems | None = None
    auto_extract: bool | None = None


class AdvancedPatch(BaseModel):
    model_config = _PATCH
    web_search_enabled: bool | None = None
    code_execution_enabled: bool | None = None
    default_model: ModelName | None = None
    disabled_tools: DisabledTools | None = Field(
        default=None, description="tool ids turned off for you (at most 200; the whole list "
        "replaces the stored one; ids of tools that do not exist are kept and change nothing)")


class SettingsPatch(BaseModel):
    model_config = _PATCH
    profile_settings: ProfilePatch | None = None
    memory_config: MemoryPatch | None = None
    advanced_settings: AdvancedPatch | None = None
    preferences: Preferences | None = Field(
        default=None, description="merged key by key; a null value removes the key")


class SettingsOut(BaseModel):
    object: str = "user_settings"
    profile_settings: ProfileSettings
    memory_config: MemoryConfig
    advanced_settings: AdvancedSettings
    preferences: dict[str, Any]
    updated_at: datetime | None = Field(description="null until the settings are first changed")

    @classmethod
    def of(cls, view: service.UserSettingsView) -> SettingsOut:
        return cls(profile_settings=view.profile_settings, memory_config=view.memory_config,
                   advanced_settings=view.advanced_settings, preferences=view.preferences,
                   updated_at=view.updated_at)


_SETTINGS_JSON = TypeAdapter(Data[SettingsOut])  # what FastAPI serialises response_model with


async def settings_body(db: DirectDB, user_id: str) -> bytes:
    """Data[SettingsOut] as JSON, read straight on the driver (also for api/hot_routes.py)."""
    view = await service.read_settings(db, user_id)
    return _SETTINGS_JSON.dump_json(Data[SettingsOut](data=SettingsOut.of(view)))


@router.get("", response_model=Data[SettingsOut])
async def get_settings(user: CurrentUser, db: DirectDep) -> Response:
    return Response(await settings_body(db, user.user_id), media_type="application/json")


@router.patch("", response_model=Data[SettingsOut])
async def update_settings(
    body: SettingsPatch, user: CurrentUser, session: SessionDep
) -> Data[SettingsOut]:
    patch: dict[str, Any] = {}
    for group in ("profile_settings", "memory_config", "advanced_settings", "preferences"):
        if group in body.model_fields_set:
            value = getattr(body, group)
            patch[group] = value.model_dump(exclude_unset=True) if isinstance(
                value, BaseModel) else value
    view = await service.update_settings(session, user.user_id, patch)
    return Data(data=SettingsOut.of(view))


@router.get("/preferences", response_model=Data[dict[str, Any]])
async def get_preferences(user: CurrentUser, session: SessionDep) -> Data[dict[str, Any]]:
    return Data(data=(await service.load_settings(session, user.user_id)).preferences)


@router.patch("/preferences", response_model=Data[dict[str, Any]])
async def update_preferences(
    body: Preferences, user: CurrentUser, session: SessionDep
) -> Data[dict[str, Any]]:
    return Data(data=await service.update_preferences(session, user.user_id, body))
