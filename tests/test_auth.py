"""Accounts and auth: every /llm/auth endpoint, and its refusals, on both databases."""

from __future__ import annotations

import secrets
import time

import httpx
import jwt

from conftest import ADMIN_KEY
from support.asserts import assert_error


def _email() -> str:
    return f"user-{secrets.token_hex(6)}@example.com"


async def test_guest_login_returns_token_for_a_real_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/llm/auth/guest-login")
    assert response.status_code == 201
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0 and body["refresh_token"] and body["user_id"].startswith("usr_")
    me = await client.get("/llm/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["data"]["id"] == body["user_id"]
    assert me.json()["data"]["role"] == "guest"


async def test_auth_is_also_mounted_at_slash_auth(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/guest-login")
    assert response.status_code == 201


async def test_register_login_and_wrong_password(client: httpx.AsyncClient) -> None:
    email = _email()
    reg = await client.post("/llm/auth/register", json={"email": email, "password": "hunter22!"})
    assert reg.status_code == 201, reg.text
    assert reg.json()["role"] == "user"
    login = await client.post("/llm/auth/login", json={"email": email.upper(), "password": "hunter22!"})
    assert login.status_code == 200
    assert login.json()["user_id"] == reg.json()["user_id"]
    bad = await client.post("/llm/auth/login", json={"email": email, "password": "wrong-pass"})
    assert_error(bad, 401, "invalid_credentials")
    unknown = await client.post("/llm/auth/login", json={"email": _email(), "password": "whatever1"})
    assert_error(unknown, 401, "invalid_credentials")


async def test_register_twice_conflicts(client: httpx.AsyncClient) -> None:
    email = _email()
    assert (await client.post("/llm/auth/register", json={"email": email, "password": "password1"})).status_code == 201
    again = await client.post("/llm/auth/register", json={"email": email, "password": "password2"})
    assert_error(again, 409, "email_taken")


async def test_register_validation_names_the_field(client: httpx.AsyncClient) -> None:
    missing = await client.post("/llm/auth/register", json={"email": _email()})
    error = assert_error(missing, 422, "missing_field")
    assert error["param"] == "password"
    bad_email = await client.post("/llm/auth/register", json={"email": "nope", "password": "password1"})
    assert assert_error(bad_email, 422)["param"] == "email"
    short = await client.post("/llm/auth/register", json={"email": _email(), "password": "short"})
    assert assert_error(short, 422)["param"] == "password"


async def test_malformed_json_is_a_400_envelope(client: httpx.AsyncClient) -> None:
    response = await client.post("/llm/auth/login", content=b"{not json",
                                 headers={"Content-Type": "application/json"})
    assert_error(response, 400, "invalid_json")


async def test_refresh_rotates_and_reuse_is_refused(client: httpx.AsyncClient) -> None:
    first = (await client.post("/llm/auth/guest-login")).json()
    rotated = await client.post("/llm/auth/refresh-token", json={"refresh_token": first["refresh_token"]})
    assert rotated.status_code == 200
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user_id"] == first["user_id"]
    reused = await client.post("/llm/auth/refresh-token", json={"refresh_token": first["refresh_token"]})
    assert_error(reused, 401, "refresh_token_reused")
    # Reuse means theft: the whole family, including the newest token, is revoked.
    newest = await client.post("/llm/auth/refresh-token", json={"refresh_token": second["refresh_token"]})
    assert_error(newest, 401, "invalid_refresh_token")


async def test_revoke_refresh_token(client: httpx.AsyncClient) -> None:
    tokens = (await client.post("/llm/auth/guest-login")).json()
    revoked = await client.post("/llm/auth/revoke", json={"token": tokens["refresh_token"]})
    assert revoked.status_code == 204
    after = await client.post("/llm/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]})
    assert_error(after, 401, "invalid_refresh_token")
    garbage = await client.post("/llm/auth/refresh-token", json={"refresh_token": "rt_nope"})
    assert_error(garbage, 401, "invalid_refresh_token")


async def test_logout_ends_access_and_refresh_tokens(client: httpx.AsyncClient) -> None:
    tokens = (await client.post("/llm/auth/guest-login")).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await client.post("/llm/auth/logout", headers=headers)).status_code == 204
    assert_error(await client.get("/llm/auth/me", headers=headers), 401, "token_revoked")
    refresh = await client.post("/llm/auth/refresh-token", json={"refresh_token": tokens["refresh_token"]})
    assert_error(refresh, 401)


async def test_missing_bad_and_expired_tokens(client: httpx.AsyncClient, app) -> None:
    assert_error(await client.get("/llm/auth/me"), 401, "missing_credentials")
    bad = await client.get("/llm/auth/me", headers={"Authorization": "Bearer not.a.jwt"})
    assert_error(bad, 401, "invalid_token")
    user_id = (await client.post("/llm/auth/guest-login")).json()["user_id"]
    expired = jwt.encode({"sub": user_id, "role": "guest", "typ": "access",
                          "iat": time.time() - 100, "exp": int(time.time()) - 10},
                         app.state.ctx.jwt_secret, algorithm="HS256")
    response = await client.get("/llm/auth/me", headers={"Authorization": f"Bearer {expired}"})
    assert_error(response, 401, "token_expired")
    forged = jwt.encode({"sub": user_id, "role": "admin", "typ": "access",
                         "iat": time.time(), "exp": int(time.time()) + 60},
                        "another-secret-of-enough-length-123", algorithm="HS256")
    response = await client.get("/llm/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert_error(response, 401, "invalid_token")


async def test_upgrade_guest_keeps_identity(client: httpx.AsyncClient, guest: dict) -> None:
    before = (await client.get("/llm/auth/me", headers=guest)).json()["data"]
    email = _email()
    upgraded = await client.post("/llm/auth/upgrade", headers=guest,
                                 json={"email": email, "password": "password1"})
    assert upgraded.status_code == 200, upgraded.text
    assert upgraded.json()["user_id"] == before["id"]
    assert upgraded.json()["role"] == "user"
    login = await client.post("/llm/auth/login", json={"email": email, "password": "password1"})
    assert login.json()["user_id"] == before["id"]
    again = await client.post("/llm/auth/upgrade", headers=guest,
                              json={"email": _email(), "password": "password1"})
    assert_error(again, 409, "not_a_guest")


async def test_api_keys_lifecycle(client: httpx.AsyncClient, guest: dict) -> None:
    created = await client.post("/llm/auth/api-keys", headers=guest, json={"name": "ci"})
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    key = data["key"]
    assert key.startswith("sk_") and data["prefix"] == key[:7] and data["last4"] == key[-4:]
    listed = (await client.get("/llm/auth/api-keys", headers=guest)).json()["data"]
    assert [k["id"] for k in listed] == [data["id"]]
    assert "key" not in listed[0] and key not in str(listed)
    me_bearer = await client.get("/llm/auth/me", headers={"Authorization": f"Bearer {key}"})
    me_header = await client.get("/llm/auth/me", headers={"X-API-Key": key})
    assert me_bearer.status_code == me_header.status_code == 200
    assert me_bearer.json()["data"]["id"] == me_header.json()["data"]["id"]
    assert (await client.delete(f"/llm/auth/api-keys/{data['id']}", headers=guest)).status_code == 204
    assert_error(await client.get("/llm/auth/me", headers={"X-API-Key": key}), 401, "invalid_api_key")
    assert_error(await client.delete(f"/llm/auth/api-keys/{data['id']}", headers=guest), 404)


async def test_api_key_of_another_user_is_404(client: httpx.AsyncClient, guest: dict,
                                              other_guest: dict) -> None:
    key_id = (await client.post("/llm/auth/api-keys", headers=guest)).json()["data"]["id"]
    assert_error(await client.delete(f"/llm/auth/api-keys/{key_id}", headers=other_guest), 404)
    assert (await client.get("/llm/auth/api-keys", headers=other_guest)).json()["data"] == []


async def test_expiring_api_key(client: httpx.AsyncClient, guest: dict) -> None:
    bad = await client.post("/llm/auth/api-keys", headers=guest, json={"expires_in": 5})
    assert assert_error(bad, 422)["param"] == "expires_in"
    ok = await client.post("/llm/auth/api-keys", headers=guest, json={"expires_in": 3600})
    assert ok.json()["data"]["expires_at"] is not None


async def test_bootstrap_admin_key(client: httpx.AsyncClient) -> None:
    me = await client.get("/llm/auth/me", headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert me.status_code == 200
    assert me.json()["data"]["role"] == "admin"
    wrong = await client.get("/llm/auth/me", headers={"Authorization": f"Bearer {ADMIN_KEY}x"})
    assert_error(wrong, 401)


async def test_concurrent_cache_misses_share_one_lookup(client: httpx.AsyncClient, app) -> None:
    import asyncio

    from parlay.services.principals import PrincipalResolver

    ctx = app.state.ctx
    tokens = (await client.post("/llm/auth/guest-login")).json()
    resolver = PrincipalResolver(ctx.direct, ctx.jwt_secret, admin_api_key=None, cache_ttl=60)
    loads = 0
    original = resolver._load_user

    async def counting_load(user_id: str):
        nonlocal loads
        loads += 1
        return await original(user_id)

    resolver._users._load = counting_load
    bearer = f"Bearer {tokens['access_token']}"
    principals = await asyncio.gather(*[resolver.resolve(bearer, None) for _ in range(32)])
    assert {p.user_id for p in principals} == {tokens["user_id"]}
    assert loads == 1
