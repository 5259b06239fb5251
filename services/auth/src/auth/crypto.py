"""Tokens at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a list of keys, the first current.

Rotation: put a new key first in AUTH_TOKEN_ENCRYPTION_KEYS (keep the old ones after it),
restart, call `POST /admin/token-keys/rotate` (re-encrypts every row with the new key), then
drop the old keys from the setting. Reads work with any listed key throughout.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

# Used only in development when no key is configured; refused elsewhere by the settings.
DEVELOPMENT_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"mci-development-only").digest())


class TokenCipher:
    def __init__(self, keys: str, *, development: bool) -> None:
        listed = [k.strip() for k in keys.split(",") if k.strip()]
        try:
            fernets = [Fernet(k) for k in listed]
        except ValueError:
            if not development:
                raise ValueError(
                    "AUTH_TOKEN_ENCRYPTION_KEYS holds a key that is not Fernet"
                ) from None
            fernets = []
        if not fernets:
            fernets = [Fernet(DEVELOPMENT_KEY)]
        self._fernet = MultiFernet(fernets)

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str:
        try:
            return self._fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            raise ValueError("a token could not be decrypted with any configured key") from None

    def rotate(self, value: str) -> str:
        return self._fernet.rotate(value.encode()).decode()


def new_key() -> str:
    return Fernet.generate_key().decode()
