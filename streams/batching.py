"""Gathering Kafka records into index batches, and splitting a batch into bulk requests.

Kept apart from the consumer and from Elasticsearch so both rules can be tested with a scripted
fetch and an injected clock.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Message:
    """One message from ``posts.enriched`` with where it came from (for offsets and dead letters)
    and its headers (what the index sink routes by, see :func:`schemas.wire.enriched_post_headers`)."""

    key: bytes | None
    value: bytes | None
    topic: str
    partition: int
    offset: int
    headers: Sequence[tuple[str, bytes]] = ()
    #: The record's Kafka timestamp in ms (for enriched posts: when the raw post entered Kafka).
    timestamp: int | None = None

    def header(self, name: str) -> bytes | None:
        """The value of header ``name`` (the last one if repeated), None when absent."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return found


class Fetch(Protocol):
    """What the batcher needs of a consumer: aiokafka's ``getmany`` (records grouped by partition)."""

    def __call__(self, *, timeout_ms: int, max_records: int) -> Awaitable[Mapping[Any, Sequence[Any]]]: ...


class Batcher:
    """Batches of up to ``size`` records, or what arrived within ``seconds`` of the first one.

    A trickle of posts is gathered into one bulk request instead of one request per poll; when
    nothing arrives for ``idle_seconds`` an empty batch lets the caller's loop go round.
    """

    def __init__(
        self,
        fetch: Fetch,
        *,
        size: int,
        seconds: float,
        idle_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.fetch = fetch
        self.size = size
        self.seconds = seconds
        self.idle_seconds = idle_seconds
        self.clock = clock

    async def next(self) -> list[Message]:
        """The next batch, in the order the records came (per partition, by offset)."""
        batch: list[Message] = []
        deadline: float | None = None
        while len(batch) < self.size:
            remaining = self.idle_seconds if deadline is None else deadline - self.clock()
            if remaining <= 0:
                break
            got = await self.fetch(timeout_ms=max(1, round(remaining * 1000)), max_records=self.size - len(batch))
            for records in got.values():
                batch.extend(
                    Message(r.key, r.value, r.topic, r.partition, r.offset, r.headers, getattr(r, "timestamp", None))
                    for r in records
                )
            if batch and deadline is None:
                deadline = self.clock() + self.seconds
            elif not batch:
                break  # nothing at all for a while: let the caller loop
        return batch


def chunks_by_bytes(items: Sequence[T], sizes: Sequence[int], limit: int) -> list[list[T]]:
    """Split items so each chunk stays under ``limit`` bytes; an oversized item goes alone."""
    chunks: list[list[T]] = []
    size = 0
    for item, item_size in zip(items, sizes, strict=True):
        if not chunks or (chunks[-1] and size + item_size > limit):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item_size
    return chunks


def plan_requests(items: Sequence[T], sizes: Sequence[int], *, parallel: int, limit: int) -> list[list[T]]:
    """Bulk requests for one batch: spread over ``parallel`` requests, each also bounded in bytes."""
    if not items:
        return []
    per_request = -(-len(items) // parallel)
    return [
        chunk
        for start in range(0, len(items), per_request)
        for chunk in chunks_by_bytes(items[start : start + per_request], sizes[start : start + per_request], limit)
    ]
