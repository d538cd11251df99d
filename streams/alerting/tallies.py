"""The detector's first stage, as pure functions: a batch of enriched posts → one tally per rule and key.

A tally is a record of the detector's internal topic, keyed ``rule<US>key`` so that every tally of a
key goes to the same partition, and so to the one worker that owns that key's state. It lists the
batch's sightings of the key (:class:`~streams.alerting.tracker.Sighting`), each with the partition
and offset of its post in ``posts.enriched``: the second stage skips what it already counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson

from streams.alerting.rules import RuleSet
from streams.alerting.terms import terms_of
from streams.alerting.tracker import SAMPLE_CHARS, Sighting
from streams.batching import Message

SEPARATOR = "\x1f"  # ASCII unit separator: never in a rule name, vanishingly rare in a key


def tally_key(rule: str, key: str) -> bytes:
    return f"{rule}{SEPARATOR}{key}".encode()


def split_key(raw: bytes) -> tuple[str, str]:
    rule, _, key = raw.decode().partition(SEPARATOR)
    return rule, key


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def sighting(post: dict[str, Any], msg: Message) -> Sighting:
    """What the detector keeps of one post (raises KeyError/ValueError/TypeError on a post it cannot read)."""
    sentiment = (post.get("sentiment") or {}).get("label") or ""
    author = post.get("author") or {}
    return Sighting(
        partition=msg.partition,
        offset=msg.offset,
        ts=_epoch(post["created_at"]),
        negative=sentiment == "negative",
        id=str(post["id"]),
        author=str(author.get("handle") or author.get("id") or ""),
        text=str(post.get("text") or "")[:SAMPLE_CHARS],
        sentiment=sentiment,
        terms=terms_of(post),
    )


def tallies(messages: Iterable[Message], rules: RuleSet) -> tuple[dict[bytes, list[Sighting]], int]:
    """The sightings of a batch by tally key, and how many messages could not be read as posts.

    Unreadable messages are skipped here: the index agent reads the same topic and dead-letters them.
    """
    grouped: dict[bytes, list[Sighting]] = defaultdict(list)
    unreadable = 0
    if not rules.rules:
        return grouped, 0
    for msg in messages:
        try:
            post = orjson.loads(msg.value or b"")
            seen = sighting(post, msg)
            matches = [(rule.name, rule.keys_of(post)) for rule in rules.rules]
        except (orjson.JSONDecodeError, KeyError, ValueError, TypeError, AttributeError, OverflowError):
            unreadable += 1
            continue
        for name, keys in matches:
            for key in keys:
                grouped[tally_key(name, key)].append(seen)
    return grouped, unreadable


def encode_tally(sightings: Sequence[Sighting]) -> bytes:
    return orjson.dumps([s.to_list() for s in sightings])


def decode_tally(value: bytes) -> list[Sighting]:
    return [Sighting.from_list(item) for item in orjson.loads(value)]
