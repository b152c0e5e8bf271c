"""Memory in real replies (loopback upstream, real embedding model): recalled memories reach
the upstream's system message and are named on the reply item; the switches, deletes and
max_items are honoured; extraction runs after the reply, in the background."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from support.mock_upstream import MockUpstream
from test_memories import BASE, remember
from test_memory_extraction import PROMPT_MARK, facts_answer, listed, switch

QUESTION = "Can you suggest a snack with nuts?"
PEANUTS, REX = "I am allergic to peanuts.", "My dog is called Rex."


async def conversation(client: httpx.AsyncClient, headers: dict) -> str:
    response = await client.post("/v1/conversations", headers=headers,
                                 json={"model": "mock-small"})
    return response.json()["data"]["id"]


async def ask(client: httpx.AsyncClient, headers: dict, conversation_id: str,
              text: str = QUESTION) -> dict:
    response = await client.post(f"/v1/conversations/{conversation_id}/items", headers=headers,
                                 json={"role": "user", "content": text})
    assert response.status_code == 201, response.text
    return response.json()


def system_text(mock: MockUpstream) -> str:
    messages = mock.chat_requests()[-1].body["messages"]
    return "\n".join(m["content"] for m in messages if m["role"] == "system")


async def test_relevant_memories_reach_the_model(client: httpx.AsyncClient, guest: dict,
                                                 mock_upstream: MockUpstream) -> None:
    peanuts = await remember(client, guest, PEANUTS)
    await remember(client, guest, REX)
    await switch(client, guest, enabled=True)
    answer = await ask(client, guest, await conversation(client, guest))
    assert PEANUTS in system_text(mock_upstream) and REX not in system_text(mock_upstream)
    assert mock_upstream.chat_requests()[-1].body["messages"][-1] == {
        "role": "user", "content": QUESTION}
    (used,) = answer["reply"]["metadata"]["memories"]
    assert used["id"] == peanuts["id"] and 0.35 <= used["similarity"] <= 1
    # the reply item keeps the ids when read back
    reply = await client.get(f"/v1/conversations/{answer['reply']['conversation_id']}/items/"
                             f"{answer['reply']['id']}", headers=guest)
    assert reply.json()["data"]["metadata"]["memories"] == [used]


async def test_disabled_deleted_and_max_items(client: httpx.AsyncClient, guest: dict,
                                              mock_upstream: MockUpstream) -> None:
    peanuts = await remember(client, guest, PEANUTS)
    cashews = await remember(client, guest, "I am allergic to cashews as well.")
    conversation_id = await conversation(client, guest)
    answer = await ask(client, guest, conversation_id)  # memory is off by default
    assert system_text(mock_upstream) == ""
    assert not (answer["reply"]["metadata"] or {}).get("memories")

    await switch(client, guest, enabled=True, max_items=1)
    answer = await ask(client, guest, conversation_id)
    assert [m["id"] for m in answer["reply"]["metadata"]["memories"]] in (
        [peanuts["id"]], [cashews["id"]])
    assert system_text(mock_upstream).count("\n- ") == 1

    await switch(client, guest, max_items=5)
    await client.delete(f"{BASE}/{peanuts['id']}", headers=guest)
    answer = await ask(client, guest, conversation_id)
    assert PEANUTS not in system_text(mock_upstream)
    assert [m["id"] for m in answer["reply"]["metadata"]["memories"]] == [cashews["id"]]


async def test_chat_completions_with_a_conversation(client: httpx.AsyncClient, guest: dict,
                                                    mock_upstream: MockUpstream) -> None:
    await remember(client, guest, PEANUTS)
    await switch(client, guest, enabled=True)
    conversation_id = await conversation(client, guest)
    messages = [{"role": "user", "content": QUESTION}]
    response = await client.post("/v1/chat/completions", headers=guest, json={
        "model": "mock-small", "conversation": conversation_id, "messages": messages})
    assert response.status_code == 200, response.text
    assert PEANUTS in system_text(mock_upstream)
    # a plain chat completion goes out as the client wrote it
    plain = await client.post("/v1/chat/completions", headers=guest,
                              json={"model": "mock-small", "messages": messages})
    assert plain.status_code == 200
    assert mock_upstream.chat_requests()[-1].body["messages"] == messages


async def test_streamed_reply_names_its_memories(client: httpx.AsyncClient, guest: dict,
                                                 mock_upstream: MockUpstream) -> None:
    peanuts = await remember(client, guest, PEANUTS)
    await switch(client, guest, enabled=True)
    conversation_id = await conversation(client, guest)
    async with client.stream("POST", f"/v1/conversations/{conversation_id}/items",
                             headers=guest, json={"role": "user", "content": QUESTION,
                                                  "stream": True}) as response:
        assert response.status_code == 201
        reply_id = response.headers["x-parlay-reply-id"]
        body = b"".join([chunk async for chunk in response.aiter_bytes()])
    assert b"data: [DONE]" in body and PEANUTS in system_text(mock_upstream)
    reply = await client.get(f"/v1/conversations/{conversation_id}/items/{reply_id}",
                             headers=guest)
    assert [m["id"] for m in reply.json()["data"]["metadata"]["memories"]] == [peanuts["id"]]


async def wait_for(predicate, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_extraction_after_a_reply(app, client: httpx.AsyncClient, guest: dict,
                                        mock_upstream: MockUpstream) -> None:
    await switch(client, guest, enabled=True, auto_extract=True)
    conversation_id = await conversation(client, guest)
    text = "I just adopted a cat called Miso. What should I feed her?"
    with mock_upstream.answering(PROMPT_MARK, facts_answer("The user has a cat called Miso.")):
        answer = await ask(client, guest, conversation_id, text)
        assert answer["reply"]["content"] == f"echo: {text}"  # the reply is not held up

        async def extracted() -> bool:
            return bool(await listed(client, guest))
        await wait_for(extracted)
    (memory,) = await listed(client, guest)
    assert (memory["text"], memory["source"]) == ("The user has a cat called Miso.",
                                                  "extracted")
    assert (memory["conversation_id"], memory["item_id"]) == (conversation_id,
                                                              answer["data"]["id"])
    extraction = [r for r in mock_upstream.chat_requests()
                  if PROMPT_MARK in orjson.dumps(r.body).decode()][-1]
    assert extraction.body["model"] == "mock-small"
    assert extraction.body["messages"][-1] == {"role": "user", "content": text}


async def test_no_extraction_unless_asked(app, client: httpx.AsyncClient, guest: dict,
                                          mock_upstream: MockUpstream) -> None:
    await switch(client, guest, enabled=True)  # auto_extract stays false
    conversation_id = await conversation(client, guest)
    before = len(mock_upstream.chat_requests())
    await ask(client, guest, conversation_id, "I just adopted a cat called Miso.")
    await asyncio.sleep(0.2)
    assert len(mock_upstream.chat_requests()) == before + 1  # the reply only
    assert await listed(client, guest) == []


async def test_responses_in_a_conversation_recall(client: httpx.AsyncClient, guest: dict,
                                                  mock_upstream: MockUpstream) -> None:
    """The Responses API with `conversation` recalls like chat completions do, names the
    memories on the stored reply; without `conversation` it sends what the client wrote."""
    peanuts = await remember(client, guest, PEANUTS)
    await remember(client, guest, REX)
    await switch(client, guest, enabled=True)
    conversation_id = await conversation(client, guest)
    response = await client.post("/v1/responses", headers=guest, json={
        "model": "mock-small", "conversation": conversation_id, "input": QUESTION})
    assert response.status_code == 200, response.text
    assert PEANUTS in system_text(mock_upstream) and REX not in system_text(mock_upstream)
    assert mock_upstream.chat_requests()[-1].body["messages"][-1] == {
        "role": "user", "content": QUESTION}
    items = await client.get(f"/v1/conversations/{conversation_id}/items", headers=guest)
    reply = [item for item in items.json()["data"] if item["role"] == "assistant"][-1]
    assert [m["id"] for m in reply["metadata"]["memories"]] == [peanuts["id"]]

    plain = await client.post("/v1/responses", headers=guest,
                              json={"model": "mock-small", "input": QUESTION})
    assert plain.status_code == 200, plain.text
    assert system_text(mock_upstream) == ""


async def test_extraction_after_a_response_in_a_conversation(
        client: httpx.AsyncClient, guest: dict, mock_upstream: MockUpstream) -> None:
    await switch(client, guest, enabled=True, auto_extract=True)
    conversation_id = await conversation(client, guest)
    text = "I just adopted a cat called Miso. What should I feed her?"
    with mock_upstream.answering(PROMPT_MARK, facts_answer("The user has a cat called Miso.")):
        response = await client.post("/v1/responses", headers=guest, json={
            "model": "mock-small", "conversation": conversation_id, "input": text})
        assert response.json()["output_text"] == f"echo: {text}"

        async def extracted() -> bool:
            return bool(await listed(client, guest))
        await wait_for(extracted)
    (memory,) = await listed(client, guest)
    items = (await client.get(f"/v1/conversations/{conversation_id}/items?order=asc",
                              headers=guest)).json()["data"]
    user_item = next(item for item in items if item["role"] == "user")
    assert (memory["text"], memory["source"]) == ("The user has a cat called Miso.",
                                                  "extracted")
    assert (memory["conversation_id"], memory["item_id"]) == (conversation_id, user_item["id"])
