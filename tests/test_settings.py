"""User settings: defaults, the seed PATCH verbatim, partial merge, validation, preferences,
and the preamble / tool gates the reply path uses."""

from __future__ import annotations

import secrets

import httpx
import pytest

from parlay.security import decode_access_token
from parlay.services import settings as settings_service
from parlay.services.settings import ProfileSettings, build_preamble
from support.asserts import assert_error

SEED_PATCH = {
    "profile_settings": {
        "base_style": "Professional",
        "nick_name": "Assistant Pro",
        "occupation": "Software Engineer"
    },
    "memory_config": {
        "min_similarity": 0.85,
        "max_items": 10
    },
    "advanced_settings": {
        "web_search_enabled": True,
        "code_execution_enabled": False
    }
}

DEFAULTS = {
    "profile_settings": {"base_style": "Friendly", "nick_name": None, "occupation": None,
                         "more_about_you": None, "custom_instructions": None},
    "memory_config": {"enabled": False, "min_similarity": 0.35, "max_items": 5,
                      "auto_extract": False},
    "advanced_settings": {"web_search_enabled": False, "code_execution_enabled": False,
                          "default_model": None, "disabled_tools": []},
    "preferences": {},
}


def _user_id(app, headers: dict) -> str:
    token = headers["Authorization"].split()[1]
    return decode_access_token(app.state.ctx.jwt_secret, token).user_id


async def test_new_user_gets_defaults(client: httpx.AsyncClient, guest: dict) -> None:
    response = await client.get("/v1/users/me/settings", headers=guest)
    assert response.status_code == 200, response.text
    settings = response.json()["data"]
    for group, values in DEFAULTS.items():
        assert settings[group] == values
    assert settings["updated_at"] is None
    # the seed's reads
    assert settings["profile_settings"]["base_style"] == "Friendly"
    assert settings["profile_settings"]["nick_name"] is None
    assert settings["memory_config"]["min_similarity"] == 0.35


async def test_seed_update_verbatim_then_get(client: httpx.AsyncClient, guest: dict) -> None:
    response = await client.patch("/v1/users/me/settings", json=SEED_PATCH, headers=guest)
    assert response.status_code == 200, response.text
    updated = response.json()["data"]
    assert updated["profile_settings"] == {
        "base_style": "Professional", "nick_name": "Assistant Pro",
        "occupation": "Software Engineer", "more_about_you": None, "custom_instructions": None}
    assert updated["memory_config"] == {"enabled": False, "min_similarity": 0.85, "max_items": 10,
                                        "auto_extract": False}
    assert updated["advanced_settings"] == {"web_search_enabled": True,
                                            "code_execution_enabled": False,
                                            "default_model": None, "disabled_tools": []}
    assert updated["updated_at"] is not None
    again = (await client.get("/v1/users/me/settings", headers=guest)).json()["data"]
    assert again == updated


async def test_partial_patch_keeps_untouched_fields(client: httpx.AsyncClient, guest: dict) -> None:
    await client.patch("/v1/users/me/settings", json=SEED_PATCH, headers=guest)
    response = await client.patch("/v1/users/me/settings", headers=guest, json={
        "profile_settings": {"custom_instructions": "  Answer in British English.  "},
        "memory_config": {"enabled": True},
    })
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["profile_settings"]["base_style"] == "Professional"
    assert data["profile_settings"]["nick_name"] == "Assistant Pro"
    assert data["profile_settings"]["custom_instructions"] == "Answer in British English."
    assert data["memory_config"] == {"enabled": True, "min_similarity": 0.85, "max_items": 10,
                                     "auto_extract": False}
    assert data["advanced_settings"]["web_search_enabled"] is True


async def test_null_restores_default_and_empty_text_clears(client: httpx.AsyncClient,
                                                           guest: dict) -> None:
    await client.patch("/v1/users/me/settings", json=SEED_PATCH, headers=guest)
    response = await client.patch("/v1/users/me/settings", headers=guest, json={
        "profile_settings": {"base_style": None, "nick_name": ""},
        "memory_config": {"max_items": None},
        "advanced_settings": None,
    })
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["profile_settings"]["base_style"] == "Friendly"
    assert data["profile_settings"]["nick_name"] is None
    assert data["profile_settings"]["occupation"] == "Software Engineer"
    assert data["memory_config"]["max_items"] == 5
    assert data["memory_config"]["min_similarity"] == 0.85
    assert data["advanced_settings"] == DEFAULTS["advanced_settings"]


@pytest.mark.parametrize(("body", "param"), [
    ({"memory_config": {"min_similarity": 1.5}}, "memory_config.min_similarity"),
    ({"memory_config": {"min_similarity": -0.1}}, "memory_config.min_similarity"),
    ({"memory_config": {"max_items": 0}}, "memory_config.max_items"),
    ({"memory_config": {"max_items": 51}}, "memory_config.max_items"),
    ({"memory_config": {"max_items": "10"}}, "memory_config.max_items"),
    ({"memory_config": {"max_items": 7.5}}, "memory_config.max_items"),
    ({"memory_config": {"auto_extract": "yes"}}, "memory_config.auto_extract"),
    ({"memory_config": {"auto_extract": 1}}, "memory_config.auto_extract"),
    ({"profile_settings": {"base_stile": "Professional"}}, "profile_settings.base_stile"),
    ({"profile_settings": {"base_style": "Sarcastic"}}, "profile_settings.base_style"),
    ({"profile_settings": {"base_style": "professional"}}, "profile_settings.base_style"),
    ({"profile_settings": {"nick_name": 42}}, "profile_settings.nick_name"),
    ({"profile_settings": {"nick_name": "x" * 101}}, "profile_settings.nick_name"),
    ({"profile_settings": {"custom_instructions": "x" * 4001}},
     "profile_settings.custom_instructions"),
    ({"advanced_settings": {"web_search_enabled": "yes"}},
     "advanced_settings.web_search_enabled"),
    ({"advanced_settings": {"code_execution_enabled": 1}},
     "advanced_settings.code_execution_enabled"),
    ({"advanced_settings": {"default_model": "has space"}}, "advanced_settings.default_model"),
    ({"advanced_settings": {"default_model": ""}}, "advanced_settings.default_model"),
    ({"advanced_settings": {"disabled_tools": "web_search"}}, "advanced_settings.disabled_tools"),
    ({"advanced_settings": {"disabled_tools": [f"t{i}" for i in range(201)]}},
     "advanced_settings.disabled_tools"),
    ({"advanced_settings": {"disabled_tools": ["ok", 7]}}, "advanced_settings.disabled_tools.1"),
    ({"advanced_settings": {"disabled_tools": [""]}}, "advanced_settings.disabled_tools.0"),
    ({"advanced_settings": {"disabled_tools": ["x" * 65]}}, "advanced_settings.disabled_tools.0"),
    ({"advanced_settings": {"disabled_tools": ["web search"]}},
     "advanced_settings.disabled_tools.0"),
    ({"advanced_settings": {"disabled_tools": ["nul\u0000"]}},
     "advanced_settings.disabled_tools.0"),
    ({"theme": "dark"}, "theme"),
    ({"memory_config": []}, "memory_config"),
    ({"preferences": ["not", "an", "object"]}, "preferences"),
])
async def test_bad_values_are_422_naming_the_field(client: httpx.AsyncClient, guest: dict,
                                                   body: dict, param: str) -> None:
    response = await client.patch("/v1/users/me/settings", json=body, headers=guest)
    assert assert_error(response, 422)["param"] == param
    # nothing was stored
    current = (await client.get("/v1/users/me/settings", headers=guest)).json()["data"]
    assert current["memory_config"] == DEFAULTS["memory_config"]
    assert current["profile_settings"] == DEFAULTS["profile_settings"]


async def test_bad_value_leaves_earlier_settings_intact(client: httpx.AsyncClient,
                                                        guest: dict) -> None:
    await client.patch("/v1/users/me/settings", json=SEED_PATCH, headers=guest)
    bad = await client.patch("/v1/users/me/settings", headers=guest, json={
        "profile_settings": {"nick_name": "Changed"}, "memory_config": {"max_items": 51}})
    assert_error(bad, 422)
    data = (await client.get("/v1/users/me/settings", headers=guest)).json()["data"]
    assert data["profile_settings"]["nick_name"] == "Assistant Pro"
    assert data["memory_config"]["max_items"] == 10


async def test_disabled_tools_replace_dedupe_and_null_restores(client: httpx.AsyncClient,
                                                               guest: dict) -> None:
    async def disabled(value: object) -> list[str]:
        response = await client.patch("/v1/users/me/settings", headers=guest,
                                      json={"advanced_settings": {"disabled_tools": value}})
        assert response.status_code == 200, response.text
        return response.json()["data"]["advanced_settings"]["disabled_tools"]

    most = [f"gone{i}__tool" for i in range(198)]  # unknown ids are kept (a server may return)
    assert await disabled([*most, "web_scraper", "web_scraper"]) == [*most, "web_scraper"]
    assert await disabled(["code_executor", "web_scraper", "code_executor"]) == [
        "code_executor", "web_scraper"]  # the whole list is replaced, duplicates dropped
    await client.patch("/v1/users/me/settings", headers=guest,
                       json={"advanced_settings": {"web_search_enabled": True}})
    read = (await client.get("/v1/users/me/settings", headers=guest)).json()["data"]
    assert read["advanced_settings"]["disabled_tools"] == ["code_executor", "web_scraper"]
    assert await disabled(None) == []


async def test_settings_need_auth_and_are_per_user(client: httpx.AsyncClient, guest: dict,
                                                   other_guest: dict) -> None:
    assert_error(await client.get("/v1/users/me/settings"), 401)
    assert_error(await client.patch("/v1/users/me/settings", json={}), 401)
    await client.patch("/v1/users/me/settings", json=SEED_PATCH, headers=guest)
    other = (await client.get("/v1/users/me/settings", headers=other_guest)).json()["data"]
    assert other["profile_settings"]["nick_name"] is None


async def test_preferences_merge_and_null_removes(client: httpx.AsyncClient, guest: dict) -> None:
    url = "/v1/users/me/settings/preferences"
    assert (await client.get(url, headers=guest)).json() == {"data": {}}
    first = await client.patch(url, headers=guest, json={"theme": "dark", "font_size": 14,
                                                          "sidebar": {"collapsed": True}})
    assert first.status_code == 200, first.text
    assert first.json()["data"] == {"theme": "dark", "font_size": 14,
                                    "sidebar": {"collapsed": True}}
    second = await client.patch(url, headers=guest, json={"theme": None, "language": "de"})
    assert second.json()["data"] == {"font_size": 14, "sidebar": {"collapsed": True},
                                     "language": "de"}
    assert (await client.get(url, headers=guest)).json()["data"] == second.json()["data"]
    # visible in the full settings and mergeable from there too
    full = await client.patch("/v1/users/me/settings", headers=guest,
                              json={"preferences": {"font_size": 16}})
    assert full.json()["data"]["preferences"]["font_size"] == 16
    assert full.json()["data"]["preferences"]["language"] == "de"
    cleared = await client.patch("/v1/users/me/settings", headers=guest,
                                 json={"preferences": None})
    assert cleared.json()["data"]["preferences"] == {}


async def test_preferences_are_size_capped(client: httpx.AsyncClient, guest: dict) -> None:
    url = "/v1/users/me/settings/preferences"
    too_big = await client.patch(url, headers=guest, json={"blob": "x" * 17000})
    error = assert_error(too_big, 422, "preferences_too_large")
    assert error["param"] == "preferences"
    not_object = await client.patch(url, headers=guest, json=["a"])
    assert_error(not_object, 422)
    assert (await client.get(url, headers=guest)).json()["data"] == {}


# --- the contract used by replies and tools ---------------------------------------------

def test_build_preamble_default_profile_adds_nothing() -> None:
    assert build_preamble(ProfileSettings()) is None


def test_build_preamble_seed_profile() -> None:
    preamble = build_preamble(ProfileSettings(
        base_style="Professional", nick_name="Assistant Pro", occupation="Software Engineer"))
    assert preamble is not None
    lines = preamble.splitlines()
    assert lines[1] == "Style: Professional - be precise, polished and businesslike."
    assert "Address the user as: Assistant Pro" in lines
    assert "The user's occupation: Software Engineer" in lines
    assert not any(line.startswith(("About the user", "The user's instructions"))
                   for line in lines)


def test_build_preamble_friendly_with_instructions_keeps_style_line() -> None:
    preamble = build_preamble(ProfileSettings(custom_instructions="Use metric units.",
                                              more_about_you="I live in Oslo."))
    assert preamble is not None
    assert "Style: Friendly - be warm, approachable and encouraging." in preamble
    assert preamble.endswith("About the user: I live in Oslo.\n"
                             "The user's instructions: Use metric units.")


def test_build_preamble_style_only() -> None:
    assert build_preamble(ProfileSettings(base_style="Concise")) == (
        "The user has set these preferences for your replies; follow them unless the "
        "conversation asks otherwise.\n"
        "Style: Concise - answer briefly and directly; skip preamble and filler.")


async def test_contract_functions_follow_the_settings(client: httpx.AsyncClient, guest: dict,
                                                      app) -> None:
    user_id = _user_id(app, guest)
    ctx = app.state.ctx
    async with ctx.sessionmaker() as session:
        assert await settings_service.preamble_for_user(session, user_id) is None
        assert await settings_service.default_model_for_user(session, user_id) is None
        assert await settings_service.tools_enabled_for_user(session, user_id) == []
    await client.patch("/v1/users/me/settings", json=SEED_PATCH, headers=guest)
    await client.patch("/v1/users/me/settings", headers=guest,
                       json={"advanced_settings": {"default_model": "mock-large"}})
    async with ctx.sessionmaker() as session:
        preamble = await settings_service.preamble_for_user(session, user_id)
        assert preamble is not None and "Assistant Pro" in preamble
        assert await settings_service.default_model_for_user(session, user_id) == "mock-large"
        enabled = {t.id for t in await settings_service.tools_enabled_for_user(session, user_id)}
    admin_tools = (await client.get("/v1/admin/mcp/tools", params={"category": "web"},
                                    headers={"Authorization": f"Bearer {ctx.settings.admin_api_key}"}
                                    )).json()["data"]
    assert enabled == {t["id"] for t in admin_tools if t["enabled"]}
    assert "code_executor" not in enabled


async def test_unstorable_text_is_refused(client: httpx.AsyncClient, guest: dict) -> None:
    for body, param in (
        ({"profile_settings": {"nick_name": "nul\u0000byte"}}, "profile_settings.nick_name"),
        ({"profile_settings": {"occupation": "bell\u0007"}}, "profile_settings.occupation"),
        ({"preferences": {"k": "nul\u0000"}}, "preferences"),
    ):
        response = await client.patch("/v1/users/me/settings", json=body, headers=guest)
        assert assert_error(response, 422)["param"] == param
    lone = b'{"profile_settings": {"nick_name": "\\ud800"}}'
    response = await client.patch("/v1/users/me/settings", content=lone, headers={
        **guest, "Content-Type": "application/json"})
    assert assert_error(response, 422)["param"] == "profile_settings.nick_name"
    nan = await client.patch("/v1/users/me/settings/preferences", content=b'{"x": NaN, "y": 1}',
                             headers={**guest, "Content-Type": "application/json"})
    assert nan.status_code == 200, nan.text
    assert nan.json()["data"] == {"x": None, "y": 1}
    huge = await client.patch("/v1/users/me/settings/preferences", json={"n": 2**70},
                              headers=guest)
    assert_error(huge, 422, "invalid_preferences")
    multiline = await client.patch("/v1/users/me/settings", headers=guest, json={
        "profile_settings": {"custom_instructions": "Line one.\n\tLine two."}})
    assert multiline.status_code == 200, multiline.text


async def test_tools_need_both_admin_and_user_consent(client: httpx.AsyncClient, guest: dict,
                                                      admin: dict, app) -> None:
    user_id = _user_id(app, guest)
    await client.patch("/v1/users/me/settings", headers=guest, json={
        "advanced_settings": {"web_search_enabled": True, "code_execution_enabled": True}})
    await client.patch("/v1/admin/mcp/tools/web_scraper", headers=admin, json={"enabled": False})
    try:
        async with app.state.ctx.sessionmaker() as session:
            tools = await settings_service.tools_enabled_for_user(session, user_id)
        ids = {tool.id for tool in tools}
        assert {"web_search", "code_executor"} <= ids and "web_scraper" not in ids
        await client.patch("/v1/users/me/settings", headers=guest,
                           json={"advanced_settings": {"web_search_enabled": False}})
        async with app.state.ctx.sessionmaker() as session:
            tools = await settings_service.tools_enabled_for_user(session, user_id)
        assert [tool.id for tool in tools] == ["code_executor"]
        assert tools[0].content_filter.matches("nothing bad") == []
        await client.patch("/v1/users/me/settings", headers=guest, json={
            "advanced_settings": {"web_search_enabled": True, "disabled_tools": ["web_search"]}})
        await client.patch("/v1/admin/mcp/tools/web_scraper", headers=admin,
                           json={"enabled": True})
        async with app.state.ctx.sessionmaker() as session:
            tools = await settings_service.tools_enabled_for_user(session, user_id)
        assert [tool.id for tool in tools] == ["code_executor", "web_scraper"]
    finally:
        await client.patch("/v1/admin/mcp/tools/web_scraper", headers=admin,
                           json={"enabled": True})


# --- settings take effect in replies ----------------------------------------------------

async def _reply_request(client: httpx.AsyncClient, headers: dict, mock_upstream,
                         text: str) -> dict:
    """Send a message in a new conversation; the chat body the upstream got for its reply."""
    conversation = await client.post("/v1/conversations", json={"title": "prefs"},
                                      headers=headers)
    assert conversation.status_code == 201, conversation.text
    conversation_id = conversation.json()["data"]["id"]
    response = await client.post(
        f"/v1/conversations/{conversation_id}/items",
        json={"role": "user", "content": text, "content_type": "text"}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["reply"]["content"] == f"echo: {text}"
    bodies = [r.body for r in mock_upstream.chat_requests()
              if r.body and r.body["messages"][-1].get("content") == text]
    assert len(bodies) == 1
    return bodies[0]


async def test_profile_preamble_reaches_the_upstream(client: httpx.AsyncClient, guest: dict,
                                                     mock_upstream) -> None:
    before = await _reply_request(client, guest, mock_upstream, f"plain {secrets.token_hex(6)}")
    assert [m["role"] for m in before["messages"]] == ["user"]

    await client.patch("/v1/users/me/settings", json=SEED_PATCH, headers=guest)
    await client.patch("/v1/users/me/settings", headers=guest, json={"profile_settings": {
        "custom_instructions": "Always answer in haiku."}})
    body = await _reply_request(client, guest, mock_upstream, f"styled {secrets.token_hex(6)}")
    system, user = body["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    assert system["content"] == build_preamble(ProfileSettings(
        base_style="Professional", nick_name="Assistant Pro", occupation="Software Engineer",
        custom_instructions="Always answer in haiku."))
    assert "Style: Professional" in system["content"]
    assert "Address the user as: Assistant Pro" in system["content"]
    assert "The user's instructions: Always answer in haiku." in system["content"]


async def test_default_model_setting_picks_the_reply_model(client: httpx.AsyncClient,
                                                           guest: dict, mock_upstream) -> None:
    await client.patch("/v1/users/me/settings", headers=guest,
                       json={"advanced_settings": {"default_model": "mock-large"}})
    body = await _reply_request(client, guest, mock_upstream, f"model {secrets.token_hex(6)}")
    assert body["model"] == "mock-large"
    await client.patch("/v1/users/me/settings", headers=guest,
                       json={"advanced_settings": {"default_model": "mock-small"}})
    body = await _reply_request(client, guest, mock_upstream, f"model2 {secrets.token_hex(6)}")
    assert body["model"] == "mock-small"
