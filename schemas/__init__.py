"""Event contracts: JSON Schema files (the authority), Python types, and validation at the edges.

Connectors validate before they publish; the enrich agent validates what it consumes and what it
emits. Anything that fails becomes a :class:`InvalidMessage` carrying one readable reason, which
the caller turns into a dead letter (see :func:`dead_letter`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any, cast

import fastjsonschema
import orjson

from schemas.types import DeadLetter, EnrichedPost, RawPost

__all__ = [
    "DeadLetter",
    "EnrichedPost",
    "InvalidMessage",
    "RawPost",
    "dead_letter",
    "decode_raw_post",
    "dumps",
    "load_schema",
    "now_rfc3339",
    "validate",
]

SCHEMA_FILES = {
    "raw_post": "raw_post.v1.json",
    "enriched_post": "enriched_post.v1.json",
    "dead_letter": "dead_letter.v1.json",
}
SCHEMA_TITLES = {"raw_post": "RawPost", "enriched_post": "EnrichedPost", "dead_letter": "DeadLetter"}


class InvalidMessage(ValueError):
    """A message that does not meet its contract; ``reason`` says why in one sentence."""

    def __init__(self, reason: str, stage: str = "validate") -> None:
        super().__init__(reason)
        self.reason = reason
        self.stage = stage


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema document for ``raw_post``, ``enriched_post`` or ``dead_letter``."""
    text = resources.files(__package__).joinpath(SCHEMA_FILES[name]).read_text(encoding="utf-8")
    return cast(dict[str, Any], orjson.loads(text))


@cache
def _validator(name: str) -> Callable[[Any], Any]:
    return cast(Callable[[Any], Any], fastjsonschema.compile(load_schema(name)))


def validate(name: str, obj: Any) -> None:
    """Raise :class:`InvalidMessage` unless ``obj`` meets the named schema."""
    try:
        _validator(name)(obj)
    except fastjsonschema.JsonSchemaValueException as exc:
        # fastjsonschema calls the document "data"; the reason names the field instead.
        detail = re.sub(r"^data\.?\s*", "", exc.message)
        raise InvalidMessage(f"not a valid {SCHEMA_TITLES[name]}: {detail}") from None


def decode_raw_post(data: bytes | None) -> RawPost:
    """Bytes from ``posts.raw`` → a valid RawPost, or :class:`InvalidMessage` with the reason."""
    if data is None:
        raise InvalidMessage("message has no value (tombstone)", stage="decode")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidMessage(f"value is not valid UTF-8 (byte {exc.start})", stage="decode") from None
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"value is not JSON: {exc}", stage="decode") from None
    if not isinstance(obj, dict):
        raise InvalidMessage(f"value is a JSON {type(obj).__name__}, not an object", stage="decode")
    validate("raw_post", obj)
    return cast(RawPost, obj)


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, the wire format of every ascolto topic."""
    return orjson.dumps(obj)


def now_rfc3339() -> str:
    """Current UTC time as RFC 3339 with milliseconds and a Z."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def dead_letter(
    stage: str,
    error: str,
    original: bytes | None,
    *,
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> DeadLetter:
    """A DeadLetter record keeping the original bytes (as text when they are UTF-8, else base64)."""
    raw = original or b""
    try:
        body, encoding = raw.decode("utf-8"), "text"
    except UnicodeDecodeError:
        body, encoding = base64.b64encode(raw).decode("ascii"), "base64"
    return {
        "stage": stage,
        "error": error,
        "original": body,
        "original_encoding": cast(Any, encoding),
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "at": now_rfc3339(),
        "schema_version": 1,
    }
