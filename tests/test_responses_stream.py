"""Streamed /v1/responses: the typed events the SDK's `client.responses.stream()` consumes,
in order, each with its sequence number and valid against the SDK's own event models; tool
calls, failures, cuts and client disconnects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from openai.types.responses import Response, ResponseStreamEvent
from pydantic import TypeAdapter

from conftest import make_settings
from support.live import LiveParlay, live_parlay, mock_settings, response_events
from support.mock_upstream import MockUpstream

EVENT = TypeAdapter(ResponseStreamEvent)
WEATHER = {"type": "function", "name": "get_weather",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
TEXT_EVENTS = ["response.created", "response.in_progress", "response.output_item.added",
               "response.content_part.added"]
TEXT_END = ["response.output_text.done", "response.content_part.done",
            "response.output_item.done"]


@pytest.fixture(scope="module")
async def live(database_url: str, mock_upstream: MockUpstream) -> AsyncIterator[LiveParlay]:
    async with live_parlay(mock_settings(make_settings, database_url, mock_upstream)) as served:
        yield served


async def _events(live: LiveParlay, token: str, **body: Any) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=live.url, timeout=30) as http:
        return await response_events(http, token, **body)


def _types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


async def test_text_stream_with_the_sdk(live: LiveParlay) -> None:
    _token, sdk = await live.guest()
    async with sdk.responses.stream(model="mock-small", input="stream me please") as stream:
        seen = [event async for event in stream]
        final = await stream.get_final_response()
    types = [event.type for event in seen]
    deltas = types.count("response.output_text.delta")
    assert types == [*TEXT_EVENTS, *["response.output_text.delta"] * deltas, *TEXT_END,
                     "response.completed"]
    assert deltas == 4  # "echo:", " stream", " me", " please"
    assert [e.sequence_number for e in seen] == list(range(len(seen)))
    assert final.output_text == "echo: stream me please" and final.status == "completed"
    assert final.usage is not None and final.usage.output_tokens == 4
    stored = await sdk.responses.retrieve(final.id)  # stored before the end was sent
    assert stored.status == "completed" and stored.output_text == final.output_text
    assert stored.output[0].id == final.output[0].id


async def test_raw_events_match_the_sdk_models(live: LiveParlay) -> None:
    token, _sdk = await live.guest()
    events = await _events(live, token, input="raw events", instructions="short")
    created, in_progress, completed = events[0], events[1], events[-1]
    assert created["response"]["status"] == "in_progress" and created["response"]["output"] == []
    assert in_progress["response"]["id"] == created["response"]["id"]
    assert completed["type"] == "response.completed"
    Response.model_validate(completed["response"])
    assert completed["response"]["output_text"] == "echo: raw events"
    added = events[2]["item"]
    done = next(e for e in events if e["type"] == "response.output_item.done")["item"]
    assert added["id"] == done["id"] and added["status"] == "in_progress"
    assert done["status"] == "completed"


async def test_function_call_stream_round_trip(live: LiveParlay) -> None:
    token, sdk = await live.guest()
    events = await _events(live, token, tools=[WEATHER],
                           input='!call get_weather {"city": "Lima"}')
    types = _types(events)
    pieces = types.count("response.function_call_arguments.delta")
    assert pieces >= 2
    assert types == ["response.created", "response.in_progress", "response.output_item.added",
                     *["response.function_call_arguments.delta"] * pieces,
                     "response.function_call_arguments.done", "response.output_item.done",
                     "response.completed"]
    call = events[-2]["item"]
    arguments = "".join(e["delta"] for e in events
                        if e["type"] == "response.function_call_arguments.delta")
    assert arguments == call["arguments"] == events[-3]["arguments"]
    assert json.loads(arguments) == {"city": "Lima"} and call["name"] == "get_weather"
    async with sdk.responses.stream(
            model="mock-small", tools=[WEATHER], previous_response_id=events[0]["response"]["id"],
            input=[{"type": "function_call_output", "call_id": call["call_id"],
                    "output": "cold"}]) as stream:
        final = await stream.get_final_response()
    assert final.output_text == "tool said: cold"


async def test_upstream_failure_streams_response_failed(live: LiveParlay, mock_upstream) -> None:
    token, sdk = await live.guest()
    events = await _events(live, token, input="!status 503")
    assert _types(events) == ["response.created", "response.in_progress", "response.failed"]
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["code"] == "server_error"
    assert (await sdk.responses.retrieve(failed["id"])).status == "failed"


async def test_a_cut_keeps_the_partial_text_as_incomplete(live: LiveParlay) -> None:
    token, sdk = await live.guest()
    for _ in range(3):  # the stored state is final whenever the client has seen the end
        events = await _events(live, token, input="!cut 3")
        assert _types(events)[-4:] == [*TEXT_END, "response.incomplete"]
        incomplete = events[-1]["response"]
        assert incomplete["output_text"] == "echo: !cut"
        assert incomplete["incomplete_details"]["cause"] == "upstream_cut"
        assert incomplete["output"][0]["status"] == "incomplete"
        stored = await sdk.responses.retrieve(incomplete["id"])
        assert stored.status == "incomplete" and stored.output_text == "echo: !cut"


async def test_client_disconnect_cancels_the_upstream(
        live: LiveParlay, mock_upstream: MockUpstream) -> None:
    token, sdk = await live.guest()
    before = mock_upstream.cancelled
    response_id = None
    async with httpx.AsyncClient(base_url=live.url, timeout=10) as http, http.stream(
            "POST", "/v1/responses", headers={"Authorization": f"Bearer {token}"},
            json={"model": "mock-small", "stream": True, "input": "!hang"}) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and '"response.created"' in line:
                response_id = json.loads(line[6:])["response"]["id"]
            if '"response.in_progress"' in line:
                break  # the model is answering; the upstream now hangs until we leave
    for _ in range(100):
        if mock_upstream.cancelled > before:
            break
        await asyncio.sleep(0.05)
    assert mock_upstream.cancelled == before + 1
    for _ in range(100):
        stored = await sdk.responses.retrieve(response_id)
        if stored.status != "in_progress":
            break
        await asyncio.sleep(0.05)
    assert stored.status == "incomplete" and stored.output == []
    assert stored.incomplete_details is not None
    assert stored.incomplete_details.model_extra["cause"] == "client_disconnected"


async def test_streamed_turn_in_a_conversation(live: LiveParlay) -> None:
    token, _sdk = await live.guest()
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live.url, headers=headers) as http:
        conv = (await http.post("/v1/conversations", json={})).json()["data"]
        events = await _events(live, token, input="in a conversation",
                               conversation=conv["id"], store=True)
        assert events[-1]["response"]["conversation"] == {"id": conv["id"]}
        items = (await http.get(f"/v1/conversations/{conv['id']}/items")).json()["data"]
    assert [(i["role"], i["content"], i["status"]) for i in items] == [
        ("user", "in a conversation", "completed"),
        ("assistant", "echo: in a conversation", "completed")]


async def test_stream_without_store(live: LiveParlay) -> None:
    token, sdk = await live.guest()
    events = await _events(live, token, input="not kept", store=False)
    assert events[-1]["response"]["store"] is False
    with pytest.raises(openai.NotFoundError):
        await sdk.responses.retrieve(events[-1]["response"]["id"])
