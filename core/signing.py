"""HMAC-SHA256 request signatures: how ascolto signs what it sends (alert webhooks) and checks what it
receives (the HTTP ingest endpoint).

A signed request carries ``X-Ascolto-Timestamp: <unix seconds>`` and
``X-Ascolto-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`` over the raw body bytes.
The timestamp is signed so that a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

TIMESTAMP_HEADER = "X-Ascolto-Timestamp"
SIGNATURE_HEADER = "X-Ascolto-Signature"


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Ascolto-Signature`` value of ``body`` sent at ``timestamp``."""
    return "sha256=" + hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def signed_headers(secret: bytes, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The timestamp and signature headers of one request."""
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: bytes, body: bytes, headers: Mapping[str, str], *, tolerance: float = 300, now: float | None = None
) -> bool:
    """Whether a request's signature is genuine and its timestamp within ``tolerance`` seconds of now."""
    try:
        timestamp = int(headers[TIMESTAMP_HEADER])
        given = headers[SIGNATURE_HEADER]
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    return abs(current - timestamp) <= tolerance and hmac.compare_digest(signature(secret, timestamp, body), given)
