"""Recall with the real local embedding model: relevance, max_items, min_similarity, the
enabled switch, deletes and edits taking effect at once (also seen from a second app on the
same database), users kept apart, vectors recomputed when the embedding model changes."""

from __future__ import annotations

import logging

import httpx
import pytest
from sqlalchemy import update

from conftest import asgi_client, make_settings, new_guest, running_app
from parlay.db.models.memories import Memory
from parlay.db.repositories import memories as repo
from parlay.services.memory_recall import ReplyMemories, recall_for_reply, render_memories
from parlay.services.settings import MemoryConfig
from support.mock_upstream import MockUpstream
from test_memories import BASE, remember

FACTS = ["I am allergic to peanuts.", "My dog is called Rex.", "I live in Lisbon.",
         "I am learning to play the piano."]
ON = MemoryConfig(enabled=True, min_similarity=0.35, max_items=5)


async def user_id(client: httpx.AsyncClient, headers: dict) -> str:
    return (await client.get("/llm/auth/me", headers=headers)).json()["data"]["id"]


async def recall(app, uid: str, text: str, config: MemoryConfig = ON) -> list[str]:
    return [m.text for m in await app.state.ctx.memory.recall(uid, text, config)]


@pytest.fixture
async def person(client: httpx.AsyncClient, guest: dict) -> str:
    for fact in FACTS:
        await remember(client, guest, fact)
    return await user_id(client, guest)


async def test_relevant_memories_only(app, person: str) -> None:
    assert await recall(app, person, "Can you suggest a snack with nuts?") == [FACTS[0]]
    assert await recall(app, person, "What should I name my dog's new toy?") == [FACTS[1]]
    assert await recall(app, person, "Write a haiku about the sea.") == []
    assert await recall(app, person, "What is the capital of Australia?") == []


async def test_max_items_and_order(app, person: str) -> None:
    everything = MemoryConfig(enabled=True, min_similarity=0.0, max_items=50)
    ranked = await app.state.ctx.memory.recall(person, "my dog loves peanuts", everything)
    assert len(ranked) >= 3  # every memory of non-negative similarity
    scores = [m.similarity for m in ranked]
    assert scores == sorted(scores, reverse=True)
    assert {ranked[0].text, ranked[1].text} == {FACTS[0], FACTS[1]}
    for limit in (1, 2, 3):
        config = MemoryConfig(enabled=True, min_similarity=0.0, max_items=limit)
        assert await recall(app, person, "my dog loves peanuts", config) == [
            m.text for m in ranked[:limit]]


async def test_min_similarity(app, person: str) -> None:
    everything = MemoryConfig(enabled=True, min_similarity=0.0, max_items=50)
    ranked = await app.state.ctx.memory.recall(person, "a snack with nuts", everything)
    top, second = ranked[0].similarity, ranked[1].similarity
    between = MemoryConfig(enabled=True, min_similarity=(top + second) / 2, max_items=50)
    assert await recall(app, person, "a snack with nuts", between) == [ranked[0].text]
    above = MemoryConfig(enabled=True, min_similarity=min(1.0, top + 0.01), max_items=50)
    assert await recall(app, person, "a snack with nuts", above) == []


async def test_disabled_recalls_nothing(app, person: str) -> None:
    off = MemoryConfig(enabled=False, min_similarity=0.0, max_items=50)
    assert await recall(app, person, "Can you suggest a snack with nuts?", off) == []
    assert await recall(app, person, "   ", ON) == []


async def test_delete_and_edit_take_effect_at_once(app, client: httpx.AsyncClient,
                                                   guest: dict, database_url: str) -> None:
    uid = await user_id(client, guest)
    peanuts = await remember(client, guest, FACTS[0])
    await remember(client, guest, FACTS[1])
    question = "Can you suggest a snack with nuts?"
    assert await recall(app, uid, question) == [FACTS[0]]  # cached in this app now

    # a second app on the same database (another worker) changes the memories
    async with running_app(make_settings(database_url)) as other, asgi_client(other) as http:
        edited = await http.patch(f"{BASE}/{peanuts['id']}", headers=guest,
                                  json={"text": "I am allergic to shellfish."})
        assert edited.status_code == 200, edited.text
        assert await recall(app, uid, question) == []
        assert await recall(app, uid, "Is shrimp safe for me to eat?") == [
            "I am allergic to shellfish."]
        assert (await http.delete(f"{BASE}/{peanuts['id']}", headers=guest)).status_code == 204
    assert await recall(app, uid, "Is shrimp safe for me to eat?") == []
    assert await recall(app, uid, "What should I name my dog's new toy?") == [FACTS[1]]
    await client.delete(BASE, headers=guest)
    assert await recall(app, uid, "What should I name my dog's new toy?") == []


async def test_users_are_kept_apart(app, client: httpx.AsyncClient, guest: dict,
                                    other_guest: dict) -> None:
    await remember(client, other_guest, FACTS[0])
    mine = await user_id(client, guest)
    assert await recall(app, mine, "Can you suggest a snack with nuts?") == []
    await remember(client, guest, "I collect stamps.")
    everything = MemoryConfig(enabled=True, min_similarity=0.0, max_items=50)
    assert await recall(app, mine, "peanuts", everything) == ["I collect stamps."]


async def test_vectors_follow_the_embedding_model(app, client: httpx.AsyncClient, guest: dict,
                                                  database_url: str,
                                                  mock_upstream: MockUpstream) -> None:
    uid = await user_id(client, guest)
    for fact in FACTS[:2]:
        await remember(client, guest, fact)
    local_space = (await stored(app, uid))[0].embedding_space
    assert local_space.startswith("all-minilm-l6-v2:")

    # the operator points memory at an upstream model: vectors are recomputed on first use
    settings = make_settings(database_url, openai_base_url=mock_upstream.url,
                             openai_api_key="mock-key", memory_embedding_model="mock-small")
    async with running_app(settings) as upstream_app:
        before = len(mock_upstream.requests)
        everything = MemoryConfig(enabled=True, min_similarity=0.0, max_items=50)
        assert len(await recall(upstream_app, uid, "dogs", everything)) == 2
        sent = [r.body["input"] for r in mock_upstream.requests[before:]
                if r.path.endswith("/embeddings")]
        assert sorted(FACTS[:2]) in [sorted(batch) for batch in sent if isinstance(batch, list)]
        rows = await stored(upstream_app, uid)
        assert {(r.embedding_space, len(r.embedding)) for r in rows} == {
            ("openai/mock-small", 3 * 4)}
    # a memory written while its model cannot answer is kept, without a vector
    broken = make_settings(database_url, memory_embedding_model="no-such-model")
    async with running_app(broken) as broken_app, asgi_client(broken_app) as http:
        await remember(http, guest, "I am learning to play the piano.")
    rows = await stored(app, uid)
    assert [r.embedding for r in rows if r.text == FACTS[3]] == [None]

    # back on the local model: everything is recomputed in its space, the gap filled
    assert await recall(app, uid, "Which scales should I practise on my piano?") == [FACTS[3]]
    assert {r.embedding_space for r in await stored(app, uid)} == {local_space}


async def stored(app, uid: str) -> list[repo.VectorRow]:
    async with app.state.ctx.sessionmaker() as session:
        return await repo.vectors(session, uid)


async def test_render_memories(app, person: str) -> None:
    recalled = await app.state.ctx.memory.recall(person, "a snack with nuts", ON)
    text = render_memories(recalled)
    assert text is not None and text.endswith(f"\n- {FACTS[0]}")
    assert render_memories([]) is None


async def test_new_guest_without_memories(app, client: httpx.AsyncClient) -> None:
    uid = await user_id(client, await new_guest(client))
    assert await recall(app, uid, "anything at all") == []


async def test_a_failing_model_recalls_nothing(client: httpx.AsyncClient, guest: dict,
                                               database_url: str,
                                               caplog: pytest.LogCaptureFixture) -> None:
    await remember(client, guest, FACTS[0])
    uid = await user_id(client, guest)
    broken = make_settings(database_url, memory_embedding_model="no-such-model")
    async with running_app(broken) as broken_app:
        with caplog.at_level(logging.WARNING, logger="parlay.memories"):
            assert await recall(broken_app, uid, "Can you suggest a snack with nuts?") == []
    assert any("memory recall skipped: model_not_found" in r.getMessage()
               for r in caplog.records)


async def test_recall_for_reply_follows_the_users_settings(app, client: httpx.AsyncClient,
                                                          guest: dict, person: str) -> None:
    async def for_reply(text: str) -> ReplyMemories:
        async with app.state.ctx.sessionmaker() as session:
            return await recall_for_reply(app.state.ctx.memory, session, person, text)

    off = await for_reply("Can you suggest a snack with nuts?")
    assert (off.preamble, off.used, off.config.enabled) == (None, [], False)
    await client.patch("/v1/users/me/settings", headers=guest,
                       json={"memory_config": {"enabled": True}})
    found = await for_reply("Can you suggest a snack with nuts?")
    assert found.preamble is not None and found.preamble.endswith(f"- {FACTS[0]}")
    (used,) = found.used
    peanuts = [m for m in (await client.get(BASE, headers=guest)).json()["data"]
               if m["text"] == FACTS[0]]
    assert used["id"] == peanuts[0]["id"] and 0.35 <= used["similarity"] <= 1
    await client.patch("/v1/users/me/settings", headers=guest,
                       json={"memory_config": {"max_items": 1, "min_similarity": 0.99}})
    strict = await for_reply("Can you suggest a snack with nuts?")
    assert (strict.preamble, strict.used, strict.config.max_items) == (None, [], 1)
    assert await recall_for_reply(None, None, person, "x") == ReplyMemories()  # type: ignore[arg-type]


async def test_a_damaged_vector_is_recomputed(app, client: httpx.AsyncClient,
                                              guest: dict) -> None:
    memory = await remember(client, guest, FACTS[0])
    uid = await user_id(client, guest)
    async with app.state.ctx.sessionmaker() as session:
        await session.execute(update(Memory).where(Memory.id == memory["id"])
                              .values(embedding=b"\x00" * 100))
        await repo.changed(session, uid)  # as any change does: caches are stale
        await session.commit()
    assert await recall(app, uid, "Can you suggest a snack with nuts?") == [FACTS[0]]
    (row,) = await stored(app, uid)
    assert len(row.embedding) == 4 * 384
