"""Standard Webhooks signatures (spec v1.0.0, symmetric scheme ``v1``: HMAC-SHA256).

Example::

    >>> secret = new_secret()
    >>> headers = webhook_headers(secret, "msg_1", timestamp=1700000000, body=b'{"a":1}')
    >>> headers["webhook-signature"].startswith("v1,")
    True

The signed content is ``{webhook-id}.{webhook-timestamp}.{raw body}``; the secret is ``whsec_`` + base64 of 32
random bytes (the spec asks for 24 to 64). The ``standardwebhooks`` package verifies these in the tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from functools import lru_cache

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every secret, not a secret


def new_secret() -> str:
    """A fresh signing secret, shown to the subscribing department once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


@lru_cache(maxsize=256)
def _key(secret: str) -> bytes:
    raw = secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one delivery."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.digest(_key(secret), signed, hashlib.sha256)).decode()


def webhook_headers(secret: str, msg_id: str, *, timestamp: int, body: bytes) -> dict[str, str]:
    """The three ``webhook-*`` headers of one delivery attempt (the id stays the same across retries)."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, msg_id, timestamp, body),
    }
