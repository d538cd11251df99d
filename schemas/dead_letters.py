"""The one builder and reader of DeadLetter records (published to ``posts.dlq`` by connectors and the worker)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import orjson

from schemas.contracts import DeadLetter
from schemas.timestamps import now_rfc3339

#: The default of ASCOLTO_MAX_MESSAGE_BYTES; callers pass the configured limit.
DEFAULT_MAX_BYTES = 16 * 1024 * 1024

#: Bytes of the limit left for the record's key, headers and batch framing, which the limit covers too.
RECORD_HEADROOM = 4096

#: A reason is one sentence; one that quotes its input at length is cut here.
MAX_ERROR_CHARS = 2000


def dead_letter(
    stage: str,
    error: str,
    original: bytes | None,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> DeadLetter:
    """A DeadLetter keeping the original bytes (as text when they are UTF-8, else base64).

    The letter is always small enough to be published: when the original would make it larger
    than ``max_bytes`` (less :data:`RECORD_HEADROOM` for key and headers), it keeps the longest
    prefix that fits and says so with ``truncated``, ``original_bytes`` and ``original_sha256``
    (enough to find and check the full input at its source).
    """
    raw = original or b""
    if len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS - 1] + "…"
    letter: DeadLetter = {
        "stage": stage,
        "error": error,
        "original": "",
        "original_encoding": "text",
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "at": now_rfc3339(),
        "schema_version": 1,
    }
    budget = max_bytes - RECORD_HEADROOM - len(orjson.dumps(letter)) - 256  # 256: the truncation fields
    body, encoding = _encode(raw)
    if _json_size(body) > budget:
        letter["truncated"] = True
        letter["original_bytes"] = len(raw)
        letter["original_sha256"] = hashlib.sha256(raw).hexdigest()
        body, encoding = _prefix_within(raw, encoding, max(budget, 0))
    letter["original"] = body
    letter["original_encoding"] = encoding
    return letter


def original_of(letter: Mapping[str, Any]) -> bytes | None:
    """The original bytes a DeadLetter keeps (a prefix when ``truncated``); None when it has none that decode."""
    body = letter.get("original")
    if not isinstance(body, str):
        return None
    if letter.get("original_encoding") == "base64":
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            return None
    return body.encode("utf-8")


def is_base64(letter: Mapping[str, Any]) -> bool:
    """Whether the letter keeps its original as base64 (it was not UTF-8 text)."""
    return letter.get("original_encoding") == "base64"


def _encode(raw: bytes) -> tuple[str, Literal["text", "base64"]]:
    try:
        return raw.decode("utf-8"), "text"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"


def _json_size(body: str) -> int:
    # JSON escaping makes quotes, backslashes and control characters longer than their bytes.
    return len(orjson.dumps(body))


def _prefix_within(
    raw: bytes, encoding: Literal["text", "base64"], budget: int
) -> tuple[str, Literal["text", "base64"]]:
    """The longest prefix of ``raw`` whose encoded JSON string fits ``budget`` bytes (within a few percent)."""
    if encoding == "base64":
        keep = max(budget - 2, 0) // 4 * 3  # base64 turns 3 bytes into 4 characters; 2 for the quotes
        return base64.b64encode(raw[:keep]).decode("ascii"), "base64"
    keep = min(len(raw), budget)
    while True:
        # errors="ignore" drops only a character split by the cut, at the very end.
        body = raw[:keep].decode("utf-8", "ignore")
        size = _json_size(body)
        if size <= budget or keep == 0:
            return body, "text"
        keep = int(keep * budget / size * 0.98)
