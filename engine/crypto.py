"""Encryption of secrets at rest (HubSpot tokens, signing secrets), keyed from the secret key."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_INFO = b"paybridge secrets at rest v1"


class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256) with a key derived from PAYBRIDGE_SECRET_KEY by HKDF."""

    def __init__(self, secret_key: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_INFO).derive(
            secret_key.encode("utf-8")
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, data: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(data).encode("utf-8")).decode("ascii")

    def open(self, token: str) -> dict[str, Any]:
        try:
            return dict(json.loads(self._fernet.decrypt(token.encode("ascii"))))
        except InvalidToken:
            message = "stored secrets cannot be decrypted: PAYBRIDGE_SECRET_KEY has changed"
            raise ValueError(message) from None

    def __repr__(self) -> str:
        return "SecretBox(***)"
