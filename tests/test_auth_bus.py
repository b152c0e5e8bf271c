"""With Redis configured, a logout or key revocation in one worker takes effect in every worker
at once, not after the auth cache TTL."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

from conftest import asgi_client, make_settings, running_app
from support.asserts import assert_error


async def _eventually_refused(client, headers) -> None:
    for _ in range(100):
        response = await client.get("/llm/auth/me", headers=headers)
        if response.status_code != 200:
            assert response.status_code == 401
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the other worker still accepts the credential")


async def test_logout_and_key_revocation_reach_other_workers(tmp_path: Path,
                                                             redis_url: str) -> None:
    common = {"redis_url": redis_url, "redis_prefix": "t" + secrets.token_hex(6),
              "auth_cache_ttl": 3600.0}
    url = f"sqlite:///{tmp_path}/shared.db"
    async with running_app(make_settings(url, **common)) as one, \
            running_app(make_settings(url, **common)) as two, \
            asgi_client(one) as worker1, asgi_client(two) as worker2:
        tokens = (await worker1.post("/llm/auth/guest-login")).json()
        bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
        key = (await worker1.post("/llm/auth/api-keys", headers=bearer)).json()["data"]
        by_key = {"X-API-Key": key["key"]}
        await asyncio.sleep(2.5)  # idle longer than Redis socket timeouts: the bus must survive
        # Worker 2 caches both credentials as valid for an hour...
        assert (await worker2.get("/llm/auth/me", headers=bearer)).status_code == 200
        assert (await worker2.get("/llm/auth/me", headers=by_key)).status_code == 200
        # ...yet revocations made through worker 1 reach it at once.
        assert (await worker1.delete(f"/llm/auth/api-keys/{key['id']}", headers=bearer)).status_code == 204
        await _eventually_refused(worker2, by_key)
        assert (await worker1.post("/llm/auth/logout", headers=bearer)).status_code == 204
        await _eventually_refused(worker2, bearer)
        assert_error(await worker2.get("/llm/auth/me", headers=bearer), 401, "token_revoked")
