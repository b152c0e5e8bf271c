"""The seed's "Conversations", "Messages" and "Complete Example" Python examples, in order,
with their bodies verbatim, against the app (both databases) and a loopback upstream.

`requests.<verb>("http://localhost:8000/...", json=..., params=..., headers=...)` becomes
`await client.<verb>("/...", ...)`; the `conv_abc123`-style placeholder ids become the ids
the earlier steps created. Each example's reads (`response.json()["data"]`, keys printed)
are asserted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from conftest import make_settings, new_guest, running_app
from support.asserts import assert_error
from support.mock_upstream import MockUpstream, running_mock


async def _seed_token(client: httpx.AsyncClient) -> dict[str, str]:
    """The seed's "Get Bearer Token" step."""
    response = await client.post("/llm/auth/guest-login")
    auth_data = response.json()
    token = auth_data["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def _conversation_examples(client: httpx.AsyncClient, headers: dict[str, str],
                                 regenerate_ok: bool) -> dict[str, Any]:
    # Create Conversation
    response = await client.post(
        "/v1/conversations",
        json={
            "title": f"Chat - {datetime.now().strftime('%Y-%m-%d %H:%M')}",
            "metadata": {
                "source": "python-example",
                "project_id": "proj_123"
            }
        },
        headers=headers
    )
    conversation = response.json()["data"]
    assert conversation["id"].startswith("conv_")
    assert conversation["metadata"] == {"source": "python-example", "project_id": "proj_123"}
    conversation_id = conversation["id"]

    # (cURL) create: .data.id
    curl = await client.post("/v1/conversations", headers=headers,
                             json={"title": "My First Conversation",
                                   "metadata": {"source": "curl-example"}})
    assert curl.json()["data"]["id"].startswith("conv_")

    # List Conversations
    response = await client.get(
        "/v1/conversations",
        params={
            "limit": 20,
            "offset": 0
        },
        headers=headers
    )
    conversations = response.json()["data"]
    listed = {conv["id"]: conv["title"] for conv in conversations}
    assert listed[conversation_id] == conversation["title"]
    assert listed[curl.json()["data"]["id"]] == "My First Conversation"

    # Get Single Conversation
    response = await client.get(f"/v1/conversations/{conversation_id}", headers=headers)
    got = response.json()["data"]
    assert got["title"] == conversation["title"]
    assert len(got["items"]) == 0
    assert got["created_at"]

    # Update Conversation
    response = await client.patch(
        f"/v1/conversations/{conversation_id}",
        json={
            "title": "Updated Title",
            "metadata": {
                "project_id": "proj_new"
            }
        },
        headers=headers
    )
    updated = response.json()["data"]
    assert updated["title"] == "Updated Title"
    assert updated["metadata"] == {"source": "python-example", "project_id": "proj_new"}

    # Send Message
    response = await client.post(
        f"/v1/conversations/{conversation_id}/items",
        json={
            "role": "user",
            "content": "Hello! How are you?",
            "content_type": "text"
        },
        headers=headers
    )
    message = response.json()["data"]
    assert message["id"].startswith("msg_") and message["created_at"]
    assert message["content"] == "Hello! How are you?"
    assert response.json()["reply"]["content"] == "echo: Hello! How are you?"
    message_id = response.json()["reply"]["id"]

    # Get Messages
    response = await client.get(
        f"/v1/conversations/{conversation_id}/items",
        params={
            "limit": 50,
            "offset": 0
        },
        headers=headers
    )
    messages = response.json()["data"]
    assert [f"{msg['role'].upper()}: {msg['content']}" for msg in messages] == [
        "USER: Hello! How are you?", "ASSISTANT: echo: Hello! How are you?"]

    # Edit Message
    response = await client.patch(
        f"/v1/conversations/{conversation_id}/items/{message_id}",
        json={
            "content": "Updated message content"
        },
        headers=headers
    )
    edited = response.json()["data"]
    assert datetime.fromisoformat(edited["updated_at"]) > datetime.fromisoformat(message["created_at"])
    assert edited["content"] == "Updated message content"

    # Regenerate Message (model "gpt-4": served only by the second upstream)
    response = await client.post(
        f"/v1/conversations/{conversation_id}/items/{message_id}/regenerate",
        json={
            "model": "gpt-4",
            "temperature": 0.8,
            "max_tokens": 500
        },
        headers=headers
    )
    if regenerate_ok:
        regenerated = response.json()["data"]
        assert regenerated["content"] == "echo: Hello! How are you?"
        assert regenerated["model"] == "gpt-4"
        assert [v["content"] for v in regenerated["versions"]] == [
            "echo: Hello! How are you?", "Updated message content"]
    else:
        assert_error(response, 404, "model_not_found")

    # Delete Message
    response = await client.delete(
        f"/v1/conversations/{conversation_id}/items/{message_id}", headers=headers)
    assert response.status_code == 204

    # Share Conversation
    response = await client.post(
        f"/v1/conversations/{conversation_id}/share",
        json={
            "expires_in": 7 * 24 * 3600,  # 7 days in seconds
            "read_only": True,
            "allow_feedback": False
        },
        headers=headers
    )
    share_data = response.json()["data"]
    assert share_data["share_link"] == f"http://parlay.test/share/{share_data['share_token']}"
    assert share_data["expires_at"]

    # Delete Conversation
    response = await client.delete(f"/v1/conversations/{conversation_id}", headers=headers)
    assert response.status_code == 204

    # Bulk Delete Conversations
    response = await client.post(
        "/v1/conversations/bulk-delete",
        json={
            "conversation_ids": [
                "conv_old1",
                "conv_old2",
                "conv_old3"
            ]
        },
        headers=headers
    )
    result = response.json()["data"]
    assert result["deleted_count"] == 0
    return share_data


async def _complete_example(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    # 1. Create conversation
    create_response = await client.post(
        "/v1/conversations",
        json={"title": "AI Interview"},
        headers=headers
    )
    conversation = create_response.json()["data"]
    conversation_id = conversation["id"]

    # 2. Send initial message
    user_message = await client.post(
        f"/v1/conversations/{conversation_id}/items",
        json={"role": "user", "content": "What is machine learning?"},
        headers=headers
    )
    assert user_message.status_code == 201, user_message.text

    # 3. Get AI response
    get_messages = await client.get(
        f"/v1/conversations/{conversation_id}/items",
        headers=headers
    )
    messages = get_messages.json()["data"]
    assert [f"{msg['role']}: {msg['content'][:100]}..." for msg in messages] == [
        "user: What is machine learning?...", "assistant: echo: What is machine learning?..."]

    # 4. Share conversation
    share_response = await client.post(
        f"/v1/conversations/{conversation_id}/share",
        json={"expires_in": 86400},  # 24 hours
        headers=headers
    )
    share_data = share_response.json()["data"]
    assert share_data["share_link"].startswith("http://parlay.test/share/")
    page = await client.get(share_data["share_link"].removeprefix("http://parlay.test"))
    assert page.status_code == 200
    assert "What is machine learning?" in page.text


async def test_seed_examples_in_order(client: httpx.AsyncClient) -> None:
    headers = await _seed_token(client)
    share = await _conversation_examples(client, headers, regenerate_ok=False)
    # the deleted conversation revoked its share
    gone = await client.get(f"/v1/public/shares/{share['share_token']}")
    assert_error(gone, 410, "share_revoked")
    await _complete_example(client, headers)


async def test_seed_examples_with_an_upstream_serving_gpt_4(database_url: str) -> None:
    """The regenerate example names "gpt-4": with a provider serving it, it succeeds."""
    async with running_mock(models=["gpt-4"]) as mock:
        settings = make_settings(database_url, openai_base_url=mock.url,
                                 openai_api_key="mock-key")
        async with running_app(settings) as app:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver",
                                         timeout=30) as client:
                headers = await new_guest(client)
                await _conversation_examples(client, headers, regenerate_ok=True)
                await _complete_example(client, headers)
        sent = [r.body for r in mock.chat_requests() if r.body["model"] == "gpt-4"]
        assert any(b.get("temperature") == 0.8 and b.get("max_tokens") == 500 for b in sent)


async def test_items_accept_the_openai_form(client: httpx.AsyncClient, guest: dict,
                                            mock_upstream: MockUpstream) -> None:
    conv = (await client.post("/v1/conversations", headers=guest, json={})).json()["data"]
    before = len(mock_upstream.chat_requests())
    response = await client.post(f"/v1/conversations/{conv['id']}/items", headers=guest, json={
        "items": [{"type": "message", "role": "user",
                   "content": [{"type": "input_text", "text": "Hello!"}]},
                  {"type": "message", "role": "assistant", "content": "Hi there"}]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert [i["content"] for i in body["data"]] == ["Hello!", "Hi there"]
    assert body["data"][0]["content_parts"] == [{"type": "input_text", "text": "Hello!"}]
    assert body["data"][1]["content_parts"] == [{"type": "output_text", "text": "Hi there"}]
    assert body["first_id"] == body["data"][0]["id"] and body["last_id"] == body["data"][1]["id"]
    assert body["reply"] is None and len(mock_upstream.chat_requests()) == before
