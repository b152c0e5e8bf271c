"""Password hashing, token hashing and JWT access tokens. Pure functions, no I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
JWT_ALGORITHM = "HS256"
API_KEY_PREFIX = "sk_"
# A real hash to compare against when the user does not exist, so timing does not tell.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def new_refresh_token() -> str:
    return "rt_" + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: str
    role: str
    issued_at: float
    expires_at: float


def encode_access_token(secret: str, user_id: str, role: str, ttl: int) -> tuple[str, int]:
    now = time.time()
    payload = {"sub": user_id, "role": role, "iat": now, "exp": int(now + ttl), "typ": "access"}
    return jwt.encode(payload, secret, algorithm=JWT_ALGORITHM), ttl


def decode_access_token(secret: str, token: str) -> AccessClaims:
    """Raises jwt.InvalidTokenError (incl. ExpiredSignatureError) when the token is not good."""
    payload = jwt.decode(
        token, secret, algorithms=[JWT_ALGORITHM], options={"require": ["sub", "exp", "iat"]}
    )
    if payload.get("typ") != "access":
        raise jwt.InvalidTokenError("not an access token")
    role = payload.get("role", "guest")
    return AccessClaims(payload["sub"], role, payload["iat"], payload["exp"])
