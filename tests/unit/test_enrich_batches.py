"""The enrich agent's batch step, without Kafka: a fake producer stands in for aiokafka's.

What a user checks: every good post of a burst comes out enriched and every bad one as a dead
letter, in order; and when Kafka refuses part of a batch, no offset past the refused record is
ever acknowledged to Faust, so none can be committed.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import faust
import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError, NotEnoughReplicasError
from prometheus_client import REGISTRY

from ascolto.testing import make_post
from core.errors import DeliveryError
from core.kafka import TopicNames
from core.settings import Settings
from schemas import CREATED_AT_HEADER, dumps, validate
from streams.alerting.rules import parse_rules
from streams.alerting.tallies import decode_tally, tally_records
from streams.enrich_agent import BatchEnricher
from streams.enrichers import EnrichmentChain
from streams.enrichers.base import FunctionEnricher
from streams.enrichers.chain import chain_from_settings
from streams.processing import Enriched, enrich_batch, enrich_message
from streams.publishing import BatchPublisher
from streams.stream_topics import StreamTopics

PARTITIONS = 3


@dataclass
class Msg:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class Event:
    message: Msg


class FakeBuilder:
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.records: list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]] = []

    def append(self, *, timestamp: float | None, key: bytes | None, value: bytes, headers: Any) -> object | None:
        if len(self.records) >= self.capacity:
            return None
        self.records.append((key, value, list(headers)))
        return object()


class FakeProducer:
    """Keeps what the broker acknowledged; ``refuse`` decides which handed-over batch fails, and how."""

    def __init__(self, capacity: int = 10_000, refuse: Any = None) -> None:
        self.capacity = capacity
        self.refuse = refuse or (lambda n, topic, partition, batch: None)
        self.handed = 0
        self.written: dict[tuple[str, int], list[tuple[bytes | None, bytes, list[tuple[str, bytes]]]]] = defaultdict(
            list
        )

    async def partitions_for(self, topic: str) -> set[int]:
        return set(range(PARTITIONS))

    def create_batch(self) -> FakeBuilder:
        return FakeBuilder(self.capacity)

    async def send_batch(self, batch: FakeBuilder, topic: str, *, partition: int) -> asyncio.Future[None]:
        self.handed += 1
        outcome = self.refuse(self.handed, topic, partition, batch)
        if outcome == "at hand-over":
            raise KafkaTimeoutError()
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if outcome == "by the broker":
            future.set_exception(NotEnoughReplicasError())
        else:
            self.written[(topic, partition)].extend(batch.records)
            future.set_result(None)
        return future


@pytest.fixture(scope="module")
def chain() -> EnrichmentChain:
    return chain_from_settings(Settings())


@pytest.fixture
def topics() -> StreamTopics:
    settings = Settings(topic_prefix="t.", topic_partitions=PARTITIONS)
    return StreamTopics.declare(faust.App("test-enrich-batches"), TopicNames.of(settings), settings)


MALFORMED = {
    3: b"\xff\xfe not UTF-8",
    11: b"{not json",
    17: None,  # a tombstone
    24: dumps({**make_post("missing its id"), "id": 5}),
}


def burst(n: int) -> list[Event]:
    """n messages of posts.raw spread over the partitions by key, offsets counting per partition."""
    events = []
    offsets = [0] * PARTITIONS
    for i in range(n):
        post = make_post(f"Post numero {i}: il servizio clienti di Acme è ottimo #acme", native_id=f"n{i}")
        key = post["id"].encode()
        partition = i % PARTITIONS
        value = MALFORMED[i] if i in MALFORMED else dumps(post)
        events.append(Event(Msg("t.posts.raw", partition, offsets[partition], key, value)))
        offsets[partition] += 1
    return events


def committable(events: list[Event], acked: list[Event]) -> dict[int, int]:
    """The offset Kafka would hold per partition: one past the last of an unbroken run of acks from the start."""
    done = {(e.message.partition, e.message.offset) for e in acked}
    commit: dict[int, int] = {}
    for partition in range(PARTITIONS):
        offset = min(e.message.offset for e in events if e.message.partition == partition)
        while (partition, offset) in done:
            offset += 1
        commit[partition] = offset
    return commit


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def run(step: BatchEnricher, events: list[Event]) -> tuple[list[Event], Exception | None]:
    acked: list[Event] = []

    async def ack(event: Event) -> None:
        acked.append(event)

    try:
        await step.process(events, ack)
    except DeliveryError as exc:
        return acked, exc
    return acked, None


def test_a_burst_becomes_enriched_posts_and_dead_letters_in_order(chain, topics):
    events = burst(40)
    producer = FakeProducer(capacity=4)  # several record batches per partition
    step = BatchEnricher(chain, BatchPublisher(producer), topics, Settings().max_message_bytes)
    enriched_before = sample("ascolto_posts_enriched_total")
    decode_before = sample("ascolto_dead_letters_total", stage="decode")

    acked, error = asyncio.run(run(step, events))

    assert error is None
    assert acked == events  # every event, in order
    good = [e for i, e in enumerate(events) if i not in MALFORMED]
    for partition in range(PARTITIONS):
        written = producer.written[("t.posts.enriched", partition)]
        # each enriched post stays in its raw partition, in offset order, keyed and dated for the index sink
        expected = [e.message.key for e in good if e.message.partition == partition]
        assert [key for key, _, _ in written] == expected
        for key, value, headers in written:
            post = orjson.loads(value)
            validate("enriched_post", post)
            assert post["id"].encode() == key and post["sentiment"]["label"]
            assert dict(headers)[CREATED_AT_HEADER] == post["created_at"].encode()
    letters = [orjson.loads(value) for p in range(PARTITIONS) for _, value, _ in producer.written[("t.posts.dlq", p)]]
    assert sorted((letter["partition"], letter["offset"]) for letter in letters) == sorted(
        (events[i].message.partition, events[i].message.offset) for i in MALFORMED
    )
    by_offset = {(letter["partition"], letter["offset"]): letter for letter in letters}
    assert by_offset[(events[17].message.partition, events[17].message.offset)]["stage"] == "decode"
    assert by_offset[(events[24].message.partition, events[24].message.offset)]["stage"] == "validate"
    assert by_offset[(events[11].message.partition, events[11].message.offset)]["original"] == "{not json"
    assert sample("ascolto_posts_enriched_total") - enriched_before == len(events) - len(MALFORMED)
    assert sample("ascolto_dead_letters_total", stage="decode") - decode_before == 3


@pytest.mark.parametrize("how", ["by the broker", "at hand-over"])
def test_nothing_past_a_refused_record_is_acknowledged(chain, topics, how):
    events = burst(40)
    # Partition 1 holds events 1, 4, 7, ... (none malformed); with four records per batch, its second
    # batch of enriched posts is events 13, 16, 19 and 22. Kafka refuses that one.
    refused_batch = {events[i].message.key for i in (13, 16, 19, 22)}

    def refuse(n: int, topic: str, partition: int, batch: FakeBuilder) -> str | None:
        return how if {key for key, _, _ in batch.records} == refused_batch else None

    producer = FakeProducer(capacity=4, refuse=refuse)
    step = BatchEnricher(chain, BatchPublisher(producer), topics, Settings().max_message_bytes)

    acked, error = asyncio.run(run(step, events))

    assert isinstance(error, DeliveryError)
    # Acked: exactly the events before the first one whose record the broker does not hold. Refused
    # by the broker, that is the refused batch's first post; refused at hand-over, nothing after it
    # was handed over either, so an earlier dead letter still waiting in its batch can come first.
    held = {(topic, key, value) for (topic, _), records in producer.written.items() for key, value, _ in records}
    delivered = [
        any(k == e.message.key and t == "t.posts.enriched" for t, k, _ in held)
        or any(t == "t.posts.dlq" and orjson.loads(v)["offset"] == e.message.offset
               and orjson.loads(v)["partition"] == e.message.partition for t, _, v in held)
        for e in events
    ]  # fmt: skip
    first_refused = delivered.index(False)
    assert acked == events[:first_refused]
    assert first_refused == 13 if how == "by the broker" else first_refused <= 13
    commit = committable(events, acked)
    refused = events[first_refused].message
    assert commit[refused.partition] == refused.offset  # Kafka would re-deliver the refused post
    for partition, offset in commit.items():
        later = [e.message.offset for e in events[first_refused:] if e.message.partition == partition]
        assert not later or offset <= min(later)  # nothing past the failure, in any partition


def test_a_send_that_fails_before_anything_is_handed_over_acks_nothing(chain, topics):
    class Unreachable(FakeProducer):
        async def partitions_for(self, topic: str) -> set[int]:
            raise KafkaTimeoutError()

    step = BatchEnricher(chain, BatchPublisher(Unreachable()), topics, Settings().max_message_bytes)
    acked, error = asyncio.run(run(step, burst(10)))
    assert acked == [] and isinstance(error, DeliveryError)


def test_an_enriched_post_too_large_for_kafka_becomes_a_dead_letter(chain, topics):
    events = [e for i, e in enumerate(burst(8)) if i not in MALFORMED]
    producer = FakeProducer()
    step = BatchEnricher(chain, BatchPublisher(producer), topics, max_message_bytes=len(events[0].message.value) + 64)
    acked, error = asyncio.run(run(step, events))
    assert error is None and acked == events
    letters = [orjson.loads(v) for p in range(PARTITIONS) for _, v, _ in producer.written[("t.posts.dlq", p)]]
    assert len(letters) == len(events) and {letter["stage"] for letter in letters} == {"emit"}
    assert not any(producer.written[("t.posts.enriched", p)] for p in range(PARTITIONS))


def test_a_batch_enriches_like_one_post_at_a_time(chain):
    values = [e.message.value for e in burst(30)]
    one_by_one = [enrich_message(chain_from_settings(Settings()), v) for v in values]
    batched = enrich_batch(chain_from_settings(Settings()), values)
    assert len(batched) == len(one_by_one)
    for single, many in zip(one_by_one, batched, strict=True):
        assert type(single) is type(many)
        if isinstance(single, Enriched) and isinstance(many, Enriched):
            assert {**single.post, "enriched_at": None} == {**many.post, "enriched_at": None}
        else:
            assert single == many


def test_an_enricher_failing_on_one_post_of_a_batch_dead_letters_only_that_post():
    def picky(post: dict[str, Any]) -> dict[str, Any]:
        if "boom" in post["text"]:
            raise RuntimeError("cannot score this")
        return {"sentiment": {"compound": 0.0, "pos": 0.0, "neu": 1.0, "neg": 0.0, "label": "neutral", "model": "t"}}

    def undeclared(post: dict[str, Any]) -> dict[str, Any]:
        return {"oops": 1} if "oops" in post["text"] else {}

    chain = EnrichmentChain(
        [FunctionEnricher("picky", ("sentiment",), 10, picky), FunctionEnricher("sloppy", (), 20, undeclared)]
    )
    texts = ["fine", "boom here", "also fine", "oops", "fine again"]
    outcomes = enrich_batch(chain, [dumps(make_post(t)) for t in texts])
    assert [type(o).__name__ for o in outcomes] == ["Enriched", "Failed", "Enriched", "Failed", "Enriched"]
    assert outcomes[1].stage == "enrich:picky" and "cannot score this" in outcomes[1].reason  # type: ignore[union-attr]
    assert outcomes[3].stage == "enrich:sloppy"  # type: ignore[union-attr]


# --- the detector's tap: tallies go out with the batch, before anything is acked -------------------
def tally_tap(posts):
    rules = parse_rules("rules:\n  - {name: by_source, kind: flatline, key: source, minutes: 30}\n")
    return tally_records("t.alerts.tallies", posts, rules)


def test_the_tallies_of_a_batch_are_published_with_it(chain, topics):
    events = burst(40)
    producer = FakeProducer()
    step = BatchEnricher(chain, BatchPublisher(producer), topics, Settings().max_message_bytes, tap=tally_tap)
    acked, error = asyncio.run(run(step, events))
    assert error is None and acked == events
    tallies = [
        v for (topic, _), records in producer.written.items() if topic == "t.alerts.tallies" for _, v, _ in records
    ]
    (sightings,) = [decode_tally(v).sightings for v in tallies]
    # One sighting per enriched post, identified by its raw message (a re-enriched batch sends the same ones).
    enriched = [e.message for i, e in enumerate(events) if i not in MALFORMED]
    assert sorted((s.partition, s.offset) for s in sightings) == sorted((m.partition, m.offset) for m in enriched)


def test_a_refused_tally_acks_nothing_of_the_batch(chain, topics):
    def refuse(n: int, topic: str, partition: int, batch: FakeBuilder) -> str | None:
        return "by the broker" if topic == "t.alerts.tallies" else None

    producer = FakeProducer(refuse=refuse)
    step = BatchEnricher(chain, BatchPublisher(producer), topics, Settings().max_message_bytes, tap=tally_tap)
    acked, error = asyncio.run(run(step, burst(20)))
    assert acked == [] and isinstance(error, DeliveryError)
