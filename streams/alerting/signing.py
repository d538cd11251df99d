"""How webhook deliveries are signed, and how a receiver checks them.

Each POST carries ``X-Ascolto-Timestamp: <unix seconds>`` and
``X-Ascolto-Signature: sha256=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>``, where ``secret`` is the
value of the subscriber's ``secret_env`` variable and ``body`` the raw request bytes. The timestamp is
signed so that a captured request cannot be replayed later. A receiver, in a few lines::

    import hashlib, hmac, time
    def genuine(body: bytes, headers, secret: bytes, tolerance: int = 300) -> bool:
        ts = headers["X-Ascolto-Timestamp"]
        mac = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        fresh = abs(time.time() - int(ts)) <= tolerance
        return fresh and hmac.compare_digest("sha256=" + mac, headers["X-Ascolto-Signature"])

``X-Ascolto-Delivery-Id`` is the same on every retry of one delivery: a receiver that keeps the ids it
has seen ignores repeats. ``X-Ascolto-Alert-Id`` is the alert's id (shared by its resolution).
"""

from __future__ import annotations

# The signing itself lives in core (the HTTP ingest connector checks the same signatures).
from core.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature, signed_headers, verify

__all__ = [
    "ALERT_ID_HEADER",
    "DELIVERY_ID_HEADER",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "signature",
    "signed_headers",
    "verify",
]

ALERT_ID_HEADER = "X-Ascolto-Alert-Id"
DELIVERY_ID_HEADER = "X-Ascolto-Delivery-Id"
