"""Long-running sources (networks, feeds, push endpoints): the contract, checkpoints, and the publishing loop.

A :class:`LiveSource` streams :class:`Item` s from a position (its checkpoint: a cursor, a ``since_id``,
ETags, the ids last seen) and raises :class:`SourceUnavailable` when the network drops it, answers
429/5xx or times out, or :class:`SourceRefused` when it will not let ascolto in (a bad token).
:func:`run_live` does the rest, the same for every source:

* each item's RawPost goes through the shared :class:`~connectors.producer.PostProducer` (a post
  that is not valid becomes a dead letter with the reason);
* **the checkpoint rule**: an item's checkpoint is saved only after Kafka acknowledged that item and
  every one before it (the producer is flushed first), so a connector killed at any moment resumes
  where what Kafka holds ends: no gap. What was published after the last save is published again
  under the same ids (``source:native_id``): Kafka may hold it twice, the index never does;
* reconnects with exponential back-off and jitter, honouring the network's ``Retry-After``;
* metrics per source: received, published, rejected, reconnects, and lag behind the network.

Checkpoints are small JSON files in ``<data dir>/connectors/<source>.json``, written atomically.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors import metrics
from connectors.base import Rejected, publish_one
from connectors.producer import PostProducer
from core.errors import AscoltoError
from schemas import RawPost
from schemas.timestamps import to_epoch

log = logging.getLogger(__name__)

Checkpoint = dict[str, Any]


@dataclass(frozen=True)
class Item:
    """One post (or reject) from a source, and the source's position once it and all before it are published."""

    post: RawPost | Rejected
    checkpoint: Checkpoint | None = None


class SourceUnavailable(Exception):
    """The network is away for now (dropped connection, timeout, 429, 5xx): reconnect after a while.

    ``retry_after`` is the wait the network asked for (``Retry-After``, rate-limit reset), if any.
    """

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class SourceRefused(AscoltoError):
    """The network will not let ascolto in (bad token, no permission): one sentence saying what to fix."""


class LiveSource(ABC):
    """A long-running source. ``name`` is the ``source`` of its posts and the name of its checkpoint."""

    name: str

    @abstractmethod
    def stream(self, checkpoint: Checkpoint) -> AsyncIterator[Item]:
        """Items from the position ``checkpoint`` holds (empty: wherever the source starts); endless or not."""


class CheckpointStore:
    """A source's checkpoint as a JSON file, replaced atomically (a crash leaves the old one or the new one)."""

    def __init__(self, directory: Path, name: str) -> None:
        self.name = name
        self.path = directory / f"{name}.json"

    def load(self) -> Checkpoint:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise AscoltoError(
                f"The checkpoint {self.path} cannot be read ({exc}); delete it to start the source afresh."
            ) from None
        return data if isinstance(data, dict) else {}

    def save(self, checkpoint: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(checkpoint, fh, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)


@dataclass
class Backoff:
    """Waits between reconnects: doubling from ``initial`` up to ``maximum``, with ±25 % jitter; a network's
    ``Retry-After`` wins when it asks for longer."""

    initial: float = 1.0
    maximum: float = 60.0
    attempts: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next(self, retry_after: float | None = None) -> float:
        base = min(self.maximum, self.initial * 2 ** min(self.attempts, 30))
        self.attempts += 1
        wait = base * self.rng.uniform(0.75, 1.25)
        return max(wait, retry_after) if retry_after is not None else wait

    def reset(self) -> None:
        self.attempts = 0


@dataclass
class LiveReport:
    received: int = 0
    published: int = 0
    rejected: int = 0
    reconnects: int = 0


def _lag_seconds(post: RawPost) -> float | None:
    try:
        created = to_epoch(str(post["created_at"]))
    except (KeyError, ValueError):
        return None
    return max(0.0, time.time() - created)


async def _until_stopped(
    items: AsyncIterator[Item], stop: asyncio.Event, idle_seconds: float, on_idle: Callable[[], Awaitable[None]]
) -> AsyncIterator[Item]:
    """``items`` until ``stop`` is set, even while the source is waiting on a quiet network; ``on_idle`` runs
    every ``idle_seconds`` the source stays quiet (to save the checkpoint of what came last)."""
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while True:
            following = asyncio.ensure_future(anext(items))
            while not following.done() and not stopped.done():
                done, _ = await asyncio.wait(
                    {following, stopped}, timeout=idle_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    await on_idle()
            if not following.done():
                following.cancel()  # closes the source's generator where it waits
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await following
                return
            try:
                item = following.result()
            except StopAsyncIteration:
                return
            yield item
    finally:
        stopped.cancel()


async def run_live(
    source: LiveSource,
    producer: PostProducer,
    store: CheckpointStore,
    *,
    stop: asyncio.Event | None = None,
    flush_every: int = 500,
    flush_seconds: float = 1.0,
    backoff: Backoff | None = None,
) -> LiveReport:
    """Publish ``source`` until it ends, ``stop`` is set, or it refuses us (:class:`SourceRefused` propagates,
    after what was published so far is flushed and checkpointed)."""
    stop = stop or asyncio.Event()
    backoff = backoff or Backoff()
    report = LiveReport()
    # Metrics and logs name the run by its checkpoint: one source class may run several times in a process.
    name = store.name
    received = metrics.LIVE_RECEIVED.labels(name)
    published = metrics.LIVE_PUBLISHED.labels(name)
    rejected = metrics.LIVE_REJECTED.labels(name)
    reconnects = metrics.LIVE_RECONNECTS.labels(name)
    lag = metrics.LIVE_LAG.labels(name)
    checkpoint = store.load()
    pending: Checkpoint | None = None
    unflushed = 0
    last_flush = time.monotonic()

    async def commit() -> None:
        nonlocal pending, unflushed, last_flush, checkpoint
        # kafka-python's flush blocks: in a thread, so a push source's server keeps answering meanwhile.
        await asyncio.to_thread(producer.flush)
        if pending is not None:
            store.save(pending)
            checkpoint, pending = pending, None
        unflushed, last_flush = 0, time.monotonic()

    async def commit_if_quiet() -> None:
        # A quiet network sends nothing after its last post: save that post's checkpoint anyway, or a kill
        # would lose the position (and a source without catch-up would leave a gap).
        if unflushed:
            await commit()

    while not stop.is_set():
        try:
            async for item in _until_stopped(source.stream(checkpoint), stop, flush_seconds, commit_if_quiet):
                report.received += 1
                received.inc()
                if isinstance(item.post, Rejected):
                    producer.reject(item.post.original, item.post.reason)
                    report.rejected += 1
                    rejected.inc()
                elif publish_one(producer, item.post):
                    report.published += 1
                    published.inc()
                    if (seconds := _lag_seconds(item.post)) is not None:
                        lag.set(seconds)
                else:
                    report.rejected += 1
                    rejected.inc()
                if item.checkpoint is not None:
                    pending = item.checkpoint
                unflushed += 1
                backoff.reset()
                if unflushed >= flush_every or time.monotonic() - last_flush >= flush_seconds:
                    await commit()
                if stop.is_set():
                    break
            else:
                await commit()
                return report  # a finite source ended
        except SourceUnavailable as exc:
            await commit()
            wait = backoff.next(exc.retry_after)
            report.reconnects += 1
            reconnects.inc()
            log.warning("%s is unavailable (%s); reconnecting in %.1f s", name, exc.reason, wait)
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except TimeoutError:
                pass
            continue
        except SourceRefused:
            await commit()
            raise
    await commit()
    return report


@dataclass
class ManyReport:
    """What :func:`run_many` did: each source's report, and the sentence of each source or server that stopped
    because it was refused or failed (the others went on)."""

    reports: dict[str, LiveReport] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


async def run_many(
    sources: Mapping[str, LiveSource],
    producer: PostProducer,
    checkpoints: Path,
    *,
    stop: asyncio.Event,
    servers: Mapping[str, Callable[[PostProducer, asyncio.Event], Awaitable[None]]] | None = None,
    on_refused: Callable[[str, str], None] | None = None,
    backoff: Callable[[], Backoff] = Backoff,
    flush_seconds: float = 1.0,
) -> ManyReport:
    """Run several sources (by name) at once through one producer until each ended or ``stop`` is set.

    Each source keeps its own checkpoint (``checkpoints/<name>.json``) under the checkpoint rule: the shared
    producer's flush acknowledges every source's posts, and each saves only what was acknowledged. A source
    that is refused (a bad token) or fails stops alone: ``on_refused(name, sentence)`` is called and the
    others go on. ``servers`` (the ingest endpoint) run until ``stop``; without servers, the call returns as
    soon as every source has ended (finite ones done, the rest refused).
    """
    report = ManyReport()

    async def guarded(name: str, work: Awaitable[Any]) -> None:
        try:
            result = await work
        except AscoltoError as exc:  # SourceRefused, an unreadable checkpoint, a port in use
            stopped(name, str(exc))
        except Exception as exc:  # one source's surprise must not stop the others
            log.exception("%s stopped on an unexpected error", name)
            stopped(name, f"{name} stopped on an unexpected error ({type(exc).__name__}); see the log.")
        else:
            if isinstance(result, LiveReport):
                report.reports[name] = result

    def stopped(name: str, sentence: str) -> None:
        report.refused[name] = sentence
        log.error("%s stopped: %s", name, sentence)
        if on_refused is not None:
            on_refused(name, sentence)

    def live(name: str, source: LiveSource) -> Awaitable[LiveReport]:
        store = CheckpointStore(checkpoints, name)
        return run_live(source, producer, store, stop=stop, backoff=backoff(), flush_seconds=flush_seconds)

    works: list[tuple[str, Awaitable[Any]]] = [(name, live(name, source)) for name, source in sources.items()]
    works += [(name, server(producer, stop)) for name, server in (servers or {}).items()]
    await asyncio.gather(*(guarded(name, work) for name, work in works))
    await asyncio.to_thread(producer.flush)
    return report
