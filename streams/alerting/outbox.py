"""The delivery outbox's rules, with no I/O: ids, entries, back-off, what is due, digests, giving up.

One entry per (alert, status, subscriber), keyed by :func:`delivery_id`, so an alert published twice
is delivered once per subscriber. An entry is ``pending`` until the subscriber accepts it, then kept
as a ``delivered`` tombstone for :data:`TOMBSTONE_SECONDS` (so late repeats are still recognised),
then deleted. A failed attempt waits ``initial * 2**(attempts-1)`` seconds, capped at ``max`` and
jittered; once ``retry_for`` seconds have passed since the entry was made, or on an error no retry
can fix, the entry is given up (the caller dead-letters it). Entries of a subscriber with a digest
wait for the next multiple of the digest period (since the epoch) and go out together.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from streams.alerting.rules import Subscriber

#: How long a delivered entry is remembered: to recognise an alert published again, and so that a
#: resolution is sent only to subscribers told of the firing (an alert lasting longer resolves silently).
TOMBSTONE_SECONDS = 7 * 86400.0

Entry = dict[str, Any]


def fingerprint(rule: str, subscriber: Subscriber) -> str:
    """A subscriber's identity within a rule, from its non-secret fields (URL, variable names, addresses)."""
    channel = subscriber.channel
    # Timeouts, languages and digests are how to send, not who to: changing them keeps pending entries.
    fields = channel.model_dump(exclude={"timeout_seconds", "language", "digest"})
    identity = "|".join(f"{k}={sorted(v) if isinstance(v, list | tuple) else v}" for k, v in sorted(fields.items()))
    return hashlib.sha256(f"{rule}|{channel.kind}|{identity}".encode()).hexdigest()[:32]


def delivery_id(alert_id: str, status: str, subscriber_fp: str) -> str:
    """The id of one notification of one alert status to one subscriber (the same on every retry)."""
    return hashlib.sha256(f"{alert_id}|{status}|{subscriber_fp}".encode()).hexdigest()[:32]


def new_entry(
    alert: Mapping[str, Any], subscriber: Subscriber, fp: str, *, now: float, digest_seconds: float | None
) -> Entry:
    """A pending entry; due now, or at the next digest boundary."""
    return {
        "alert": dict(alert),
        "rule": alert["rule"],
        "subscriber": fp,
        "channel": subscriber.channel.kind,
        "status": alert.get("status", "firing"),
        "state": "pending",
        "attempts": 0,
        "created": now,
        "next_at": digest_boundary(now, digest_seconds) if digest_seconds else now,
        "digest_seconds": digest_seconds,
        "last_error": None,
        "delivered_at": None,
    }


def digest_boundary(now: float, period: float) -> float:
    """The next multiple of ``period`` seconds since the epoch after ``now``."""
    return (math.floor(now / period) + 1) * period


@dataclass(frozen=True)
class Policy:
    """ASCOLTO_ALERT_RETRY_*: how long to keep trying and how long to wait between tries."""

    retry_for: float
    initial: float
    maximum: float

    def backoff(self, attempts: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failure: doubling from ``initial``, capped, ±20 % jitter."""
        base = min(self.maximum, self.initial * 2 ** min(max(attempts - 1, 0), 60))
        jitter = (rng or random).uniform(0.8, 1.2)
        return min(self.maximum, base * jitter)


def delivered(entry: Entry, now: float) -> Entry:
    """The entry after its subscriber accepted it: a tombstone."""
    return {**entry, "state": "delivered", "delivered_at": now, "last_error": None, "attempts": entry["attempts"] + 1}


def failed(
    entry: Entry, reason: str, *, retry: bool, now: float, policy: Policy, rng: random.Random | None = None
) -> Entry:
    """The entry after a failed attempt: pending with a later ``next_at``, or ``gave_up``."""
    attempts = entry["attempts"] + 1
    next_at = now + policy.backoff(attempts, rng)
    if not retry or now - entry["created"] >= policy.retry_for:
        return {**entry, "state": "gave_up", "attempts": attempts, "last_error": reason}
    # The last try happens at the end of the retry period, not one back-off past it.
    next_at = min(next_at, entry["created"] + policy.retry_for)
    return {**entry, "attempts": attempts, "next_at": next_at, "last_error": reason}


@dataclass(frozen=True)
class Batch:
    """Entries that go out as one message: one entry, or a subscriber's digest."""

    subscriber: str
    keys: tuple[str, ...]


def due(entries: Iterable[tuple[str, Entry]], now: float) -> list[Batch]:
    """What to send now: each due pending entry alone, digest entries grouped per subscriber (oldest first)."""
    singles: list[Batch] = []
    digests: dict[str, list[tuple[float, str]]] = {}
    entries = list(entries)
    # A resolution waits for its firing: a subscriber must not read "resolved" first (both can be pending at
    # once: raised within a tick, or while the subscriber was down).
    firing_pending = {
        (entry["alert"].get("id"), entry["subscriber"])
        for _, entry in entries
        if entry.get("state") == "pending" and entry.get("status") == "firing"
    }
    for key, entry in entries:
        if entry.get("state") != "pending" or entry["next_at"] > now:
            continue
        waits = (entry["alert"].get("id"), entry["subscriber"]) in firing_pending
        if entry.get("status") == "resolved" and waits and not entry.get("digest_seconds"):
            continue  # (a digest sends both, in order)
        if entry.get("digest_seconds"):
            digests.setdefault(entry["subscriber"], []).append((entry["created"], key))
        else:
            singles.append(Batch(entry["subscriber"], (key,)))
    grouped = [Batch(fp, tuple(key for _, key in sorted(items))) for fp, items in digests.items()]
    return singles + grouped


def expired(entries: Iterable[tuple[str, Entry]], now: float) -> list[str]:
    """Tombstones (delivered or dead) old enough to forget."""
    return [
        key
        for key, entry in entries
        if entry.get("state") in ("delivered", "dead") and now - (entry.get("delivered_at") or now) > TOMBSTONE_SECONDS
    ]


def dead(entry: Entry, now: float) -> Entry:
    """The entry once given up and dead-lettered: a tombstone, so a repeat of the alert is not queued again."""
    return {**entry, "state": "dead", "delivered_at": now}


def pending(entries: Iterable[tuple[str, Entry]]) -> int:
    """How many entries still wait to be delivered."""
    return sum(1 for _, entry in entries if entry.get("state") == "pending")
