"""Webhook signing secrets: made, kept encrypted with a key derived from SECRET_KEY, signed with.

The database holds Fernet tokens, never a secret in clear: a leaked dump or
backup does not let anyone forge BookIt's webhooks without SECRET_KEY too.
"""

from __future__ import annotations

import base64
import functools
import secrets
from datetime import datetime

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from standardwebhooks.webhooks import Webhook

PREFIX = "whsec_"
SECRET_BYTES = 32


@functools.cache
def _fernet(secret_key: str) -> Fernet:
    # HKDF with its own `info`: the JWT key and this one never coincide.
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"bookit webhook secrets v1"
    ).derive(secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def seal(secret_key: str, secret: str) -> bytes:
    return _fernet(secret_key).encrypt(secret.encode())


def unseal(secret_key: str, token: bytes) -> str:
    return _fernet(secret_key).decrypt(token).decode()


def signature(secrets_: list[str], *, msg_id: str, timestamp: datetime, body: str) -> str:
    """The `webhook-signature` header: `v1,<base64>` per secret, space-separated."""
    return " ".join(Webhook(secret).sign(msg_id, timestamp, body) for secret in secrets_)
