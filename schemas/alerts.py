"""Alert ids: deterministic from rule, key and window, so a replayed window re-raises the same alert."""

from __future__ import annotations

import hashlib

import orjson

from schemas.timestamps import to_rfc3339


def alert_id(rule: str, key: str, window_start: str, window_end: str) -> str:
    """The Alert v1 ``id``: 32 hex digits of SHA-256 over the rule, the key and the window bounds.

    The bounds are normalised to RFC 3339 first, so ``...T10:00:00Z`` and ``...T10:00:00.000Z`` agree.
    """
    # A JSON array keeps the parts apart whatever characters the key holds.
    parts = orjson.dumps([rule, key, to_rfc3339(window_start), to_rfc3339(window_end)])
    return hashlib.sha256(parts).hexdigest()[:32]
