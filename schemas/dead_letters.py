"""The one builder of DeadLetter records (published to ``posts.dlq`` by connectors and the worker)."""

from __future__ import annotations

import base64
from typing import Literal

from schemas.contracts import DeadLetter
from schemas.timestamps import now_rfc3339


def dead_letter(
    stage: str,
    error: str,
    original: bytes | None,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> DeadLetter:
    """A DeadLetter keeping the original bytes (as text when they are UTF-8, else base64)."""
    raw = original or b""
    encoding: Literal["text", "base64"]
    try:
        body, encoding = raw.decode("utf-8"), "text"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return {
        "stage": stage,
        "error": error,
        "original": body,
        "original_encoding": encoding,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "at": now_rfc3339(),
        "schema_version": 1,
    }
