"""The live-source loop: the checkpoint rule, reconnects with back-off, a refusal ends the source."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY

from ascolto.testing import make_post
from connectors.base import Rejected
from connectors.live import (
    Backoff,
    CheckpointStore,
    Item,
    LiveSource,
    SourceRefused,
    SourceUnavailable,
    run_live,
)


class FakeProducer:
    """Records what was handed over and what Kafka acknowledged (everything, at each flush)."""

    def __init__(self) -> None:
        self.handed: list[str] = []
        self.acked: list[str] = []
        self.rejected: list[str] = []
        self.saved_with: list[list[str]] = []

    def publish(self, post: dict[str, Any]) -> bool:
        self.handed.append(post["id"])
        return True

    def reject(self, original: bytes, reason: str, key: str | None = None) -> None:
        self.rejected.append(reason)

    def flush(self) -> None:
        self.acked = list(self.handed)


class Numbers(LiveSource):
    """Posts 1..n, checkpoint = the last number; drops the connection once after ``drop_after``."""

    name = "numbers"

    def __init__(self, n: int, drop_after: int | None = None, refuse_at: int | None = None) -> None:
        self.n, self.drop_after, self.refuse_at = n, drop_after, refuse_at
        self.starts: list[int] = []

    async def stream(self, checkpoint: dict[str, Any]) -> AsyncIterator[Item]:
        start = int(checkpoint.get("last", 0)) + 1
        self.starts.append(start)
        for i in range(start, self.n + 1):
            if i == self.refuse_at:
                raise SourceRefused("The token was refused; set NUMBERS_TOKEN.")
            if self.drop_after is not None and i == self.drop_after + 1:
                self.drop_after = None
                raise SourceUnavailable("connection dropped", retry_after=0.01)
            if i == 3:
                yield Item(Rejected(b"{bad", "not JSON"), {"last": i})
                continue
            yield Item(make_post(f"post {i}", native_id=str(i)), {"last": i})
            await asyncio.sleep(0)


def run(source: LiveSource, store: CheckpointStore, producer: FakeProducer) -> Any:
    return asyncio.run(
        run_live(source, producer, store, flush_every=4, backoff=Backoff(initial=0.001, rng=random.Random(1)))  # type: ignore[arg-type]
    )


def test_the_checkpoint_is_saved_only_after_kafka_acknowledged_what_came_before(tmp_path, monkeypatch):
    store, producer = CheckpointStore(tmp_path, "numbers"), FakeProducer()
    saved = []
    original = store.save

    def save(checkpoint):
        # At every save, Kafka already holds every post up to the checkpoint.
        assert {f"test:{i}" for i in range(1, checkpoint["last"] + 1) if i != 3} <= set(producer.acked)
        saved.append(checkpoint["last"])
        original(checkpoint)

    monkeypatch.setattr(store, "save", save)
    report = run(Numbers(10), store, producer)
    assert (report.published, report.rejected) == (9, 1) and producer.rejected == ["not JSON"]
    assert saved[-1] == 10 and CheckpointStore(tmp_path, "numbers").load() == {"last": 10}


def test_a_dropped_connection_reconnects_from_the_last_checkpoint(tmp_path):
    source, producer = Numbers(10, drop_after=6), FakeProducer()
    report = run(source, CheckpointStore(tmp_path, "numbers"), producer)
    assert report.reconnects == 1
    assert source.starts == [1, 7]  # everything up to 6 was acknowledged and checkpointed before the reconnect
    assert sorted(set(producer.handed)) == sorted(f"test:{i}" for i in range(1, 11) if i != 3)


def test_a_restarted_source_resumes_where_kafka_holds_it(tmp_path):
    store = CheckpointStore(tmp_path, "numbers")
    store.save({"last": 7})
    source, producer = Numbers(10), FakeProducer()
    run(source, store, producer)
    assert source.starts == [8] and producer.handed == ["test:8", "test:9", "test:10"]


def test_a_refusal_stops_the_source_after_keeping_what_it_published(tmp_path):
    store, producer = CheckpointStore(tmp_path, "numbers"), FakeProducer()
    with pytest.raises(SourceRefused, match="set NUMBERS_TOKEN"):
        run(Numbers(10, refuse_at=6), store, producer)
    assert store.load() == {"last": 5} and set(producer.acked) >= {"test:1", "test:5"}


def test_backoff_doubles_with_jitter_and_honours_retry_after():
    backoff = Backoff(initial=1, maximum=8, rng=random.Random(3))
    waits = [backoff.next() for _ in range(6)]
    assert all(0.75 * b <= w <= 1.25 * b for w, b in zip(waits, [1, 2, 4, 8, 8, 8], strict=True))
    assert backoff.next(retry_after=30) == 30
    backoff.reset()
    assert backoff.next() <= 1.25


class Quiet(LiveSource):
    """One post, then a network that stays silent (a quiet hashtag): only ``stop`` can end it."""

    name = "quiet"

    async def stream(self, checkpoint: dict[str, Any]) -> AsyncIterator[Item]:
        yield Item(make_post("only post", native_id="1"), {"last": 1})
        await asyncio.Event().wait()
        yield Item(make_post("never", native_id="2"), {"last": 2})  # pragma: no cover


def test_stop_ends_a_source_that_waits_on_a_quiet_network_and_keeps_its_checkpoint(tmp_path):
    store, producer = CheckpointStore(tmp_path, "quiet"), FakeProducer()

    async def main() -> Any:
        stop = asyncio.Event()
        task = asyncio.create_task(run_live(Quiet(), producer, store, stop=stop))  # type: ignore[arg-type]
        while not producer.handed:
            await asyncio.sleep(0.01)
        stop.set()
        return await asyncio.wait_for(task, timeout=5)

    report = asyncio.run(main())
    assert report.published == 1 and store.load() == {"last": 1} and producer.acked == ["test:1"]


def test_a_source_that_goes_quiet_still_gets_the_checkpoint_of_its_last_post(tmp_path):
    store, producer = CheckpointStore(tmp_path, "quiet"), FakeProducer()

    async def main() -> Any:
        stop = asyncio.Event()
        task = asyncio.create_task(run_live(Quiet(), producer, store, stop=stop, flush_seconds=0.05))  # type: ignore[arg-type]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while store.load() != {"last": 1} and loop.time() < deadline:
            await asyncio.sleep(0.01)
        saved_while_running = store.load()  # a kill now must not lose the position
        stop.set()
        await asyncio.wait_for(task, timeout=5)
        return saved_while_running

    assert asyncio.run(main()) == {"last": 1} and producer.acked == ["test:1"]


def _live_metric(family: str, name: str) -> float:
    return REGISTRY.get_sample_value(f"ascolto_connector_{family}_total", {"source": name}) or 0.0


def test_metrics_name_each_running_source_by_its_checkpoint_so_two_instances_are_two_series(tmp_path):
    def counts(name: str) -> tuple[float, ...]:
        return tuple(_live_metric(family, name) for family in ("received", "published", "rejected", "reconnects"))

    before = {name: counts(name) for name in ("numbers-a", "numbers-b")}
    run(Numbers(10, drop_after=6), CheckpointStore(tmp_path, "numbers-a"), FakeProducer())
    run(Numbers(4), CheckpointStore(tmp_path, "numbers-b"), FakeProducer())
    grew = {name: tuple(a - b for a, b in zip(counts(name), before[name], strict=True)) for name in before}
    # received, published, rejected (post 3 is a reject), reconnects (one dropped connection for a)
    assert grew == {"numbers-a": (10, 9, 1, 1), "numbers-b": (4, 3, 1, 0)}
