"""Encrypt secrets at rest (provider API keys) with Fernet, keyed from settings.secret_key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        # Any string works as the configured secret: derive the 32-byte Fernet key from it.
        digest = hashlib.sha256(b"parlay-secretbox:" + secret_key.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """None when the token was made with another secret key (key rotated or lost)."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            return None
