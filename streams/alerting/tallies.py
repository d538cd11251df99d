"""The detector's first stage, as pure functions: a batch of enriched posts → one tally per rule and key.

The enrich agent calls it on each batch it has just enriched and publishes the tallies with the
batch, before acking anything (see :class:`streams.enrich_agent.BatchEnricher`). A tally is a
record of the detector's internal topic, keyed ``rule<US>key`` so that every tally of a key goes to
the same partition, and so to the one worker that owns that key's state. It lists the batch's
sightings of the key (:class:`~streams.alerting.tracker.Sighting`), each with the partition and
offset of its post's message in ``posts.raw``: a batch enriched again after a crash sends the same
sightings, and the second stage skips what it already counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from schemas.timestamps import to_epoch
from streams.alerting.matching import Matcher
from streams.alerting.rules import RuleSet
from streams.alerting.terms import terms_of
from streams.alerting.tracker import SAMPLE_CHARS, Sighting
from streams.publishing import OutRecord

SEPARATOR = "\x1f"  # ASCII unit separator: never in a rule name, vanishingly rare in a key


def tally_key(rule: str, key: str) -> bytes:
    return f"{rule}{SEPARATOR}{key}".encode()


def split_key(raw: bytes) -> tuple[str, str]:
    rule, _, key = raw.decode().partition(SEPARATOR)
    return rule, key


def sighting(post: Mapping[str, Any], partition: int, offset: int) -> Sighting:
    """What the detector keeps of one post (raises KeyError/ValueError/TypeError on a post it cannot read)."""
    sentiment = (post.get("sentiment") or {}).get("label") or ""
    author = post.get("author") or {}
    return Sighting(
        partition=partition,
        offset=offset,
        ts=to_epoch(post["created_at"]),
        negative=sentiment == "negative",
        id=str(post["id"]),
        author=str(author.get("handle") or author.get("id") or ""),
        text=str(post.get("text") or "")[:SAMPLE_CHARS],
        sentiment=sentiment,
        terms=terms_of(post),
    )


@dataclass
class TallyBatch:
    """What one batch of enriched posts tells the detector."""

    #: The encoded sightings by tally key (each sighting JSON-encoded once however many keys it counts under).
    sightings: dict[bytes, list[bytes]] = field(default_factory=lambda: defaultdict(list))
    #: The minutes (event time, epoch seconds) in which the batch had any post, matching a rule or not: the
    #: stream was not silent then, so a key's empty window there is a real zero (see ``Clock.stream_active``).
    minutes: set[int] = field(default_factory=set)
    #: Posts that could not be read (no usable ``created_at``, say: skipped here, indexed as usual).
    unreadable: int = 0


def tallies(posts: Iterable[tuple[int, int, Mapping[str, Any]]], rules: RuleSet) -> TallyBatch:
    """The tallies of a batch of enriched posts, given as (partition, offset, post) of their raw message."""
    batch = TallyBatch()
    if not rules.rules:
        return batch
    matchers = _matchers(rules)
    for partition, offset, post in posts:
        try:
            seen = sighting(post, partition, offset)
            batch.minutes.add(int(seen.ts // 60) * 60)
            matches = [(name, m.keys_of(post)) for name, m in matchers]
            if not any(keys for _, keys in matches):
                continue
            encoded = orjson.dumps(seen.to_list())
        except (KeyError, ValueError, TypeError, AttributeError, OverflowError):
            batch.unreadable += 1
            continue
        for name, keys in matches:
            for key in keys:
                batch.sightings[tally_key(name, key)].append(encoded)
    return batch


_compiled: tuple[int, tuple[tuple[str, Matcher], ...]] = (0, ())


def _matchers(rules: RuleSet) -> tuple[tuple[str, Matcher], ...]:
    # Compiled once per rule set (a reload makes a new RuleSet object), so no pydantic per post.
    global _compiled
    if _compiled[0] != id(rules):
        _compiled = (id(rules), tuple((rule.name, Matcher.of(rule.filters, rule.key)) for rule in rules.rules))
    return _compiled[1]


def encode_tally(sightings: Sequence[bytes], minutes: Iterable[int] = ()) -> bytes:
    """A tally's value: ``{"m": [active minutes], "s": [sightings]}``, the sightings already encoded."""
    return b'{"m":' + orjson.dumps(sorted(minutes)) + b',"s":[' + b",".join(sightings) + b"]}"


@dataclass(frozen=True)
class Tally:
    sightings: list[Sighting]
    minutes: list[int]


def decode_tally(value: bytes) -> Tally:
    data = orjson.loads(value)
    return Tally([Sighting.from_list(item) for item in data["s"]], [int(m) for m in data["m"]])


def tally_records(topic: str, posts: Iterable[tuple[int, int, Mapping[str, Any]]], rules: RuleSet) -> list[OutRecord]:
    """The records of :func:`tallies` for ``topic`` (``<prefix>alerts.tallies``), partitioned by key."""
    batch = tallies(posts, rules)
    return [
        OutRecord(topic, key, encode_tally(sightings, batch.minutes), []) for key, sightings in batch.sightings.items()
    ]
