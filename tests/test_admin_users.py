"""Admin users: listing, role changes, disabling (tokens and keys stop at once), lock-out
guards, audit rows."""

from __future__ import annotations

import secrets

import httpx

from support.asserts import assert_error


async def _register(client: httpx.AsyncClient) -> tuple[str, str, dict, dict]:
    email = f"adm-{secrets.token_hex(6)}@example.com"
    reg = await client.post("/llm/auth/register", json={"email": email, "password": "password1"})
    assert reg.status_code == 201, reg.text
    body = reg.json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    return body["user_id"], email, headers, body


async def _patch(client: httpx.AsyncClient, admin: dict, user_id: str, body: dict
                 ) -> httpx.Response:
    return await client.patch(f"/v1/admin/users/{user_id}", json=body, headers=admin)


async def test_disable_stops_jwt_and_api_key_at_once_and_enable_restores(
        client: httpx.AsyncClient, admin: dict) -> None:
    user_id, email, headers, tokens = await _register(client)
    key = (await client.post("/llm/auth/api-keys", json={"name": "ci"}, headers=headers)
           ).json()["data"]["key"]
    key_headers = {"X-API-Key": key}
    # warm the auth cache, so "at once" is really tested against it
    assert (await client.get("/llm/auth/me", headers=headers)).status_code == 200
    assert (await client.get("/llm/auth/me", headers=key_headers)).status_code == 200

    response = await _patch(client, admin, user_id, {"disabled": True})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["disabled"] is True

    assert_error(await client.get("/llm/auth/me", headers=headers), 401, "token_revoked")
    assert_error(await client.get("/llm/auth/me", headers=key_headers), 403, "account_disabled")
    assert_error(await client.get("/v1/users/me/settings",
                                  headers={"Authorization": f"Bearer {key}"}), 403)
    refresh = await client.post("/llm/auth/refresh-token",
                                json={"refresh_token": tokens["refresh_token"]})
    assert_error(refresh, 401)
    login = await client.post("/llm/auth/login", json={"email": email, "password": "password1"})
    assert_error(login, 401, "account_disabled")

    enabled = await _patch(client, admin, user_id, {"disabled": False})
    assert enabled.json()["data"]["disabled"] is False
    assert (await client.get("/llm/auth/me", headers=key_headers)).status_code == 200
    # sessions ended by the disable stay ended; logging in again works
    assert_error(await client.get("/llm/auth/me", headers=headers), 401, "token_revoked")
    login = await client.post("/llm/auth/login", json={"email": email, "password": "password1"})
    assert login.status_code == 200
    fresh = {"Authorization": f"Bearer {login.json()['access_token']}"}
    assert (await client.get("/llm/auth/me", headers=fresh)).status_code == 200


async def test_role_change_applies_at_once_and_is_audited(client: httpx.AsyncClient,
                                                          admin: dict) -> None:
    user_id, _, headers, _ = await _register(client)
    assert_error(await client.get("/v1/admin/users", headers=headers), 403)
    response = await _patch(client, admin, user_id, {"role": "admin"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["role"] == "admin"
    assert (await client.get("/v1/admin/users", headers=headers)).status_code == 200
    audit = await client.get("/v1/admin/audit", headers=admin,
                             params={"target_type": "user", "target_id": user_id})
    entries = audit.json()["data"]
    assert len(entries) == 1
    assert entries[0]["action"] == "user.update"
    assert entries[0]["actor_id"] == "usr_admin"
    assert entries[0]["changes"] == {"before": {"role": "user"}, "after": {"role": "admin"}}

    demoted = await _patch(client, admin, user_id, {"role": "guest"})
    assert demoted.json()["data"]["role"] == "guest"
    assert_error(await client.get("/v1/admin/users", headers=headers), 403)
    entries = (await client.get("/v1/admin/audit", headers=admin,
                                params={"target_id": user_id})).json()["data"]
    assert [e["changes"]["after"] for e in entries] == [{"role": "guest"}, {"role": "admin"}]


async def test_partial_patch_keeps_other_field(client: httpx.AsyncClient, admin: dict) -> None:
    user_id, *_ = await _register(client)
    await _patch(client, admin, user_id, {"role": "guest"})
    response = await _patch(client, admin, user_id, {"disabled": True})
    assert response.json()["data"]["role"] == "guest"
    response = await _patch(client, admin, user_id, {"role": "user"})
    assert response.json()["data"]["disabled"] is True


async def test_lockout_guards(client: httpx.AsyncClient, admin: dict) -> None:
    for body in ({"disabled": True}, {"role": "user"}):
        assert_error(await _patch(client, admin, "usr_admin", body), 409,
                     "bootstrap_admin_protected")
    other_id, _, other_headers, _ = await _register(client)
    await _patch(client, admin, other_id, {"role": "admin"})
    for body in ({"disabled": True}, {"role": "guest"}):
        assert_error(await _patch(client, other_headers, other_id, body), 409,
                     "cannot_lock_out_self")
    # another admin may; and a no-op on oneself is fine
    assert (await _patch(client, other_headers, other_id, {"role": "admin"})).status_code == 200
    assert (await _patch(client, admin, other_id, {"role": "user"})).status_code == 200


async def test_unknown_user_and_bad_values(client: httpx.AsyncClient, admin: dict) -> None:
    assert_error(await _patch(client, admin, "usr_nobody", {"disabled": True}), 404,
                 "user_not_found")
    user_id, *_ = await _register(client)
    for body, param in (({"role": "root"}, "role"), ({"disabled": "yes"}, "disabled"),
                        ({"email": "x@example.com"}, "email")):
        assert assert_error(await _patch(client, admin, user_id, body), 422)["param"] == param


async def test_list_users_paginates_and_filters_by_role(client: httpx.AsyncClient,
                                                        admin: dict) -> None:
    ids = [(await _register(client))[0] for _ in range(3)]
    page = await client.get("/v1/admin/users", params={"limit": 2}, headers=admin)
    assert page.status_code == 200, page.text
    body = page.json()
    assert len(body["data"]) == 2 and body["has_more"] is True
    assert body["first_id"] == body["data"][0]["id"]
    # newest first: the last registered user leads
    assert body["data"][0]["id"] == ids[-1]
    nxt = (await client.get("/v1/admin/users", params={"limit": 2, "offset": 2},
                            headers=admin)).json()
    assert not {u["id"] for u in nxt["data"]} & {u["id"] for u in body["data"]}
    admins = (await client.get("/v1/admin/users", params={"role": "admin", "limit": 100},
                               headers=admin)).json()["data"]
    assert admins and all(u["role"] == "admin" for u in admins)
    assert "usr_admin" in {u["id"] for u in admins}
    assert_error(await client.get("/v1/admin/users?role=root", headers=admin), 422)
    assert_error(await client.get("/v1/admin/users?limit=0", headers=admin), 422)


async def test_audit_paginates_newest_first(client: httpx.AsyncClient, admin: dict) -> None:
    user_id, *_ = await _register(client)
    for role in ("guest", "user", "guest"):
        await _patch(client, admin, user_id, {"role": role})
    first = (await client.get("/v1/admin/audit", headers=admin,
                              params={"target_id": user_id, "limit": 2})).json()
    assert first["has_more"] is True
    assert [e["changes"]["after"]["role"] for e in first["data"]] == ["guest", "user"]
    rest = (await client.get("/v1/admin/audit", headers=admin,
                             params={"target_id": user_id, "limit": 2, "offset": 2})).json()
    assert [e["changes"]["after"]["role"] for e in rest["data"]] == ["guest"]
    assert rest["has_more"] is False
