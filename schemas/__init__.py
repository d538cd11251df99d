"""Event contracts, defined once, and validation at the edges.

* :mod:`schemas.contracts` — RawPost, EnrichedPost, DeadLetter, Alert: the TypedDicts the code
  uses, carrying the constraints the JSON Schema files (``*.v1.json``) are generated from.
* :mod:`schemas.posts` — :func:`raw_post`, the one RawPost factory.
* :mod:`schemas.dead_letters` — :func:`dead_letter`, the one DeadLetter builder.
* :mod:`schemas.wire` — :func:`dumps` and the record headers naming each contract.
* :mod:`schemas.timestamps` — RFC 3339 formatting.

Connectors validate before they publish; the enrich agent validates what it consumes and what it
emits. Anything that fails becomes an :class:`InvalidMessage` carrying one readable reason, which
the caller turns into a dead letter.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, cast

import fastjsonschema
import orjson

from schemas.alerts import alert_id, new_alert
from schemas.contracts import CONTRACTS, Alert, DeadLetter, EnrichedPost, RawPost
from schemas.dead_letters import dead_letter
from schemas.posts import raw_post
from schemas.timestamps import now_rfc3339, to_rfc3339
from schemas.wire import (
    ALERT_HEADERS,
    CREATED_AT_HEADER,
    DEAD_LETTER_HEADERS,
    ENRICHED_POST_HEADERS,
    RAW_POST_HEADERS,
    Headers,
    dumps,
    enriched_post_headers,
)

__all__ = [
    "ALERT_HEADERS",
    "CREATED_AT_HEADER",
    "DEAD_LETTER_HEADERS",
    "ENRICHED_POST_HEADERS",
    "RAW_POST_HEADERS",
    "Alert",
    "DeadLetter",
    "EnrichedPost",
    "Headers",
    "InvalidMessage",
    "RawPost",
    "alert_id",
    "canonical_created_at",
    "dead_letter",
    "decode_raw_post",
    "dumps",
    "enriched_post_headers",
    "load_schema",
    "new_alert",
    "now_rfc3339",
    "raw_post",
    "to_rfc3339",
    "validate",
]


#: Deepest nesting of objects and arrays a RawPost may have. Posts need a handful of levels; JSON
#: writers give up far deeper (orjson at 255), and a post that cannot be written again must be
#: refused here, with its reason, rather than fail later in the pipeline.
MAX_DEPTH = 64

#: ``created_at`` as :func:`to_rfc3339` writes it (UTC, milliseconds, ``Z``).
_CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:[0-5]\d\.\d{3}Z")


class InvalidMessage(ValueError):
    """A message that does not meet its contract; ``reason`` says why in one sentence."""

    def __init__(self, reason: str, stage: str = "validate") -> None:
        super().__init__(reason)
        self.reason = reason
        self.stage = stage


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The JSON Schema document of a contract: ``raw_post``, ``enriched_post``, ``dead_letter`` or ``alert``."""
    if name not in CONTRACTS:
        raise KeyError(f"no contract named {name!r}; the contracts are {', '.join(CONTRACTS)}")
    text = resources.files(__package__).joinpath(f"{name}.v1.json").read_text(encoding="utf-8")
    return cast(dict[str, Any], orjson.loads(text))


@cache
def _validator(name: str) -> Callable[[Any], Any]:
    return cast(Callable[[Any], Any], fastjsonschema.compile(load_schema(name)))


def validate(name: str, obj: Any) -> None:
    """Raise :class:`InvalidMessage` unless ``obj`` meets the named contract's schema."""
    try:
        _validator(name)(obj)
    except fastjsonschema.JsonSchemaValueException as exc:
        # fastjsonschema calls the document "data"; the reason names the field instead.
        detail = re.sub(r"^data\.?\s*", "", exc.message)
        raise InvalidMessage(f"not a valid {CONTRACTS[name].__name__}: {detail}") from None


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
    # Only a value with that many brackets can nest that deep: counting bytes is ~50 times cheaper than walking.
    if data.count(b"{") + data.count(b"[") > MAX_DEPTH and _deeper_than(obj, MAX_DEPTH):
        raise InvalidMessage(f"value nests objects or arrays more than {MAX_DEPTH} levels deep", stage="decode")
    validate("raw_post", obj)
    obj["created_at"] = canonical_created_at(obj["created_at"])
    return cast(RawPost, obj)


def _deeper_than(obj: object, limit: int) -> bool:
    """Whether ``obj`` nests dicts or lists more than ``limit`` levels (iterative: no recursion limit)."""
    stack: list[tuple[object, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def canonical_created_at(value: str) -> str:
    """A schema-valid RFC 3339 ``created_at`` in the one form every stage reads (``to_rfc3339``'s UTC ``...Z``).

    RFC 3339 allows a lower-case ``t``/``z`` and a leap second (``23:59:60``); Python's parser takes
    neither, so both are mended here once: a leap second becomes ``:59`` of the same minute.
    """
    if _CANONICAL.fullmatch(value):  # already in to_rfc3339's form, as every connector of ours writes it
        try:
            datetime.fromisoformat(value)  # a real day and time (the pattern lets 2024-02-30 through)
            return value
        except ValueError:
            raise InvalidMessage(f"created_at {value!r} is not a time that exists") from None
    text = value.upper()
    if text[17:19] == "60":  # YYYY-MM-DDTHH:MM:SS: the schema fixed the positions
        text = f"{text[:17]}59{text[19:]}"
    try:
        return to_rfc3339(text)
    except (ValueError, OverflowError):  # e.g. 0000-..., or 9999-12-31T23:00:00-05:00 past year 9999 in UTC
        raise InvalidMessage(f"created_at {value!r} is not a time that exists in UTC") from None
