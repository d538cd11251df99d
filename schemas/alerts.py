"""Alerts: the one builder, and ids deterministic from rule, key and window (a replay re-raises the same alert)."""

from __future__ import annotations

import hashlib
from typing import Any, cast

import orjson

from schemas.contracts import Alert
from schemas.timestamps import to_rfc3339


def alert_id(rule: str, key: str, window_start: str, window_end: str) -> str:
    """The Alert v1 ``id``: 32 hex digits of SHA-256 over the rule, the key and the window bounds.

    The bounds are normalised to RFC 3339 first, so ``...T10:00:00Z`` and ``...T10:00:00.000Z`` agree.
    """
    # A JSON array keeps the parts apart whatever characters the key holds.
    parts = orjson.dumps([rule, key, to_rfc3339(window_start), to_rfc3339(window_end)])
    return hashlib.sha256(parts).hexdigest()[:32]


def new_alert(*, rule: str, key: str, window_start: str, window_end: str, **fields: Any) -> Alert:
    """An Alert v1 for ``rule`` and ``key`` over the window: its id derived from them, the contract version set.

    ``fields`` are the other Alert fields (metric, observed, ..., and the optional ones); validate the
    result with :func:`schemas.validate` where it enters or leaves the system.
    """
    alert = {
        "id": alert_id(rule, key, window_start, window_end),
        "rule": rule,
        "key": key,
        "window_start": window_start,
        "window_end": window_end,
        **fields,
        "schema_version": 1,
    }
    return cast(Alert, alert)
