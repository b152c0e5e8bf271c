"""Extraction: the conversation's model (the loopback upstream, scripted to answer the
extraction prompt) proposes facts; new ones are stored as `source: extracted`, repeats are
skipped, the switches are honoured, and failures are logged, never raised."""

from __future__ import annotations

import logging

import httpx
import orjson
import pytest

from conftest import asgi_client, make_settings, new_guest, running_app
from parlay.services.memory_extraction import parse_facts, schedule_extraction
from support.mock_upstream import MockUpstream
from test_memories import BASE, remember
from test_memory_recall import user_id

PROMPT_MARK = "durable facts about the user"
MESSAGE = "By the way, my sister moved to Berlin and I'm allergic to peanuts. Any snack ideas?"


def facts_answer(*facts: str) -> str:
    return orjson.dumps({"facts": list(facts)}).decode()


async def turn(client: httpx.AsyncClient, headers: dict, text: str = MESSAGE) -> tuple[str, str]:
    """A conversation with one stored user message: (conversation id, item id)."""
    conversation = await client.post("/v1/conversations", headers=headers,
                                     json={"model": "mock-small"})
    conversation_id = conversation.json()["data"]["id"]
    item = await client.post(f"/v1/conversations/{conversation_id}/items", headers=headers,
                             json={"role": "user", "content": text, "generate": False})
    return conversation_id, item.json()["data"]["id"]


async def switch(client: httpx.AsyncClient, headers: dict, **memory_config) -> None:
    response = await client.patch("/v1/users/me/settings", headers=headers,
                                  json={"memory_config": memory_config})
    assert response.status_code == 200, response.text


async def extract(app, client: httpx.AsyncClient, headers: dict, conversation_id: str,
                  item_id: str, text: str = MESSAGE) -> list:
    task = schedule_extraction(app.state.ctx.memory, user_id=await user_id(client, headers),
                               conversation_id=conversation_id, item_id=item_id, text=text,
                               model="mock-small")
    assert task is not None
    return await task


async def listed(client: httpx.AsyncClient, headers: dict) -> list[dict]:
    return (await client.get(BASE, headers=headers, params={"order": "asc"})).json()["data"]


async def test_stores_new_facts_and_skips_repeats(app, client: httpx.AsyncClient, guest: dict,
                                                  mock_upstream: MockUpstream) -> None:
    await switch(client, guest, enabled=True, auto_extract=True)
    await remember(client, guest, "I am allergic to peanuts.")
    conversation_id, item_id = await turn(client, guest)
    answer = facts_answer("The user is allergic to peanuts.",   # repeats the memory
                          "The user's sister lives in Berlin.",
                          "The user's sister has moved to Berlin.")  # repeats the one before
    before = len(mock_upstream.requests)
    with mock_upstream.answering(PROMPT_MARK, answer):
        stored = await extract(app, client, guest, conversation_id, item_id)
    assert [m.text for m in stored] == ["The user's sister lives in Berlin."]

    (request,) = [r for r in mock_upstream.requests[before:] if r.path.endswith("/completions")]
    assert request.body["model"] == "mock-small"
    system, user = request.body["messages"]
    assert system["role"] == "system" and PROMPT_MARK in system["content"]
    assert user == {"role": "user", "content": MESSAGE}

    memories = await listed(client, guest)
    assert [m["source"] for m in memories] == ["manual", "extracted"]
    assert (memories[1]["conversation_id"], memories[1]["item_id"]) == (conversation_id, item_id)
    # extracted memories are recalled like any other
    recalled = await app.state.ctx.memory.recall(
        await user_id(client, guest), "Where does my sister live now?",
        (await settings_of(app, client, guest)).memory_config)
    assert [m.text for m in recalled] == ["The user's sister lives in Berlin."]

    # the same answer again adds nothing
    with mock_upstream.answering(PROMPT_MARK, answer):
        assert await extract(app, client, guest, conversation_id, item_id) == []
    assert len(await listed(client, guest)) == 2


async def settings_of(app, client: httpx.AsyncClient, headers: dict):
    from parlay.services.settings import load_settings

    async with app.state.ctx.sessionmaker() as session:
        return await load_settings(session, await user_id(client, headers))


@pytest.mark.parametrize("config", [
    {"enabled": True},                          # auto_extract defaults to false
    {"enabled": True, "auto_extract": False},
    {"enabled": False, "auto_extract": True},  # memory off: nothing is collected either
])
async def test_switches(app, client: httpx.AsyncClient, guest: dict,
                        mock_upstream: MockUpstream, config: dict) -> None:
    await switch(client, guest, **config)
    conversation_id, item_id = await turn(client, guest)
    before = len(mock_upstream.requests)
    with mock_upstream.answering(PROMPT_MARK, facts_answer("The user likes chess.")):
        assert await extract(app, client, guest, conversation_id, item_id) == []
    assert mock_upstream.requests[before:] == []  # the model was not even asked
    assert await listed(client, guest) == []


@pytest.mark.parametrize("answer", [
    "I could not find any facts.",
    '{"facts": "The user likes chess."}',
    '{"facts": [42, null, {"fact": "x"}]}',
    '{"facts": []}',
    "```json\n{\"facts\": [",
])
async def test_unusable_answers_store_nothing(app, client: httpx.AsyncClient, guest: dict,
                                              mock_upstream: MockUpstream, answer: str) -> None:
    await switch(client, guest, enabled=True, auto_extract=True)
    conversation_id, item_id = await turn(client, guest)
    with mock_upstream.answering(PROMPT_MARK, answer):
        assert await extract(app, client, guest, conversation_id, item_id) == []
    assert await listed(client, guest) == []


async def test_failures_are_logged_not_raised(app, client: httpx.AsyncClient, guest: dict,
                                              caplog: pytest.LogCaptureFixture) -> None:
    await switch(client, guest, enabled=True, auto_extract=True)
    conversation_id, item_id = await turn(client, guest, "!status 500")
    with caplog.at_level(logging.WARNING, logger="parlay.memories"):
        assert await extract(app, client, guest, conversation_id, item_id, "!status 500") == []
    assert any("memory extraction failed" in r.getMessage() and "upstream" in r.getMessage()
               for r in caplog.records)
    assert await listed(client, guest) == []


async def test_conversation_deleted_meanwhile(app, client: httpx.AsyncClient, guest: dict,
                                              mock_upstream: MockUpstream) -> None:
    await switch(client, guest, enabled=True, auto_extract=True)
    conversation_id, item_id = await turn(client, guest)
    await client.delete(f"/v1/conversations/{conversation_id}", headers=guest)
    with mock_upstream.answering(PROMPT_MARK, facts_answer("The user likes chess.")):
        assert await extract(app, client, guest, conversation_id, item_id) == []
    assert await listed(client, guest) == []


async def test_memory_outlives_its_conversation(app, client: httpx.AsyncClient, guest: dict,
                                                mock_upstream: MockUpstream) -> None:
    await switch(client, guest, enabled=True, auto_extract=True)
    conversation_id, item_id = await turn(client, guest)
    with mock_upstream.answering(PROMPT_MARK, facts_answer("The user likes chess.")):
        assert len(await extract(app, client, guest, conversation_id, item_id)) == 1
    await client.delete(f"/v1/conversations/{conversation_id}", headers=guest)
    (memory,) = await listed(client, guest)
    assert (memory["text"], memory["source"]) == ("The user likes chess.", "extracted")
    assert (memory["conversation_id"], memory["item_id"]) == (None, None)


async def test_bound_drops_extra_facts(database_url: str, mock_upstream: MockUpstream) -> None:
    settings = make_settings(database_url, openai_base_url=mock_upstream.url,
                             openai_api_key="mock-key", memory_max_per_user=2)
    async with running_app(settings) as app, asgi_client(app) as client:
        guest = await new_guest(client)
        await switch(client, guest, enabled=True, auto_extract=True)
        await remember(client, guest, "I am allergic to peanuts.")
        conversation_id, item_id = await turn(client, guest)
        answer = facts_answer("The user plays the cello.", "The user's sister lives in Berlin.")
        with mock_upstream.answering(PROMPT_MARK, answer):
            stored = await extract(app, client, guest, conversation_id, item_id)
        assert [m.text for m in stored] == ["The user plays the cello."]
        assert len(await listed(client, guest)) == 2


@pytest.mark.parametrize(("answer", "facts"), [
    ('{"facts": ["The user likes tea."]}', ["The user likes tea."]),
    ('["The user likes tea.", "The user has a cat."]', ["The user likes tea.", "The user has a cat."]),
    ('```json\n{"facts": ["The user likes tea."]}\n```', ["The user likes tea."]),
    ('Sure! Here you go: {"facts": ["The user likes tea."]} Hope that helps.',
     ["The user likes tea."]),
    ('[note] {"facts": ["  The user\\n likes   tea. "]}', ["The user likes tea."]),
    ('{"facts": ["A", "a", "B"]}', ["A", "B"]),
    ('{"facts": ["' + "x" * 301 + '", "ok"]}', ["ok"]),
    ('{"facts": ["bad\\u0000nul", "ok"]}', ["ok"]),
    ('{"facts": ["1", "2", "3", "4", "5", "6"]}', ["1", "2", "3", "4", "5"]),
    ("", []), ("null", []), ("{}", []), ('{"facts": null}', []), ("[1, 2]", []),
])
def test_parse_facts(answer: str, facts: list[str]) -> None:
    assert parse_facts(answer) == facts
