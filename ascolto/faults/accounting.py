"""Exact accounting: every post produced is one document in the index (reached through the alias, as a
search would) or one dead letter, and nothing else; and waiting until the pipeline has settled."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from elasticsearch import ApiError, NotFoundError
from elasticsearch.helpers import scan
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from ascolto.metrics_reading import metric_total
from ascolto.testing import LocalPipeline, wait_for
from core.kafka import kafka_client_config


# --- accounting -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Accounting:
    """Where the produced messages ended up. Exact when every one is one document or one dead letter."""

    produced: int
    documents: int  # hits through the alias, duplicates included
    distinct: int  # distinct _ids among them
    dead_letters: int
    lost: int  # produced, but neither indexed nor dead-lettered
    duplicated: int  # extra copies: a second document, a second dead letter, or both for one post
    unexpected: int  # indexed or dead-lettered although nobody produced it

    @property
    def exact(self) -> bool:
        return (
            self.lost == self.duplicated == self.unexpected == 0
            and self.documents == self.distinct
            and self.distinct + self.dead_letters == self.produced
        )

    ROW = "{:<22} {:>9} {:>9} {:>9} {:>6} {:>11} {:>11}"

    @classmethod
    def header(cls) -> str:
        return cls.ROW.format("case", "produced", "indexed", "dead", "lost", "duplicated", "recovery s")

    def row(self, name: str, recovery: float | None) -> str:
        shown = "-" if recovery is None else f"{recovery:.1f}"
        return self.ROW.format(name, self.produced, self.distinct, self.dead_letters, self.lost, self.duplicated, shown)


def indexed_ids(pipeline: LocalPipeline) -> list[str]:
    """The _id of every document a search through the alias sees (an absent alias sees none)."""
    es = pipeline.es
    alias = pipeline.settings.es_index
    try:
        es.indices.refresh(index=alias)
        return [hit["_id"] for hit in scan(es, index=alias, _source=False, size=5000)]
    except NotFoundError:
        return []


@dataclass(frozen=True)
class DeadLetterRecord:
    """One record of the dead-letter topic."""

    key: str | None
    letter: dict[str, Any]
    size: int  # bytes of the record's value


def dead_letters(pipeline: LocalPipeline) -> list[DeadLetterRecord]:
    """Every record in the dead-letter topic, from the start to its current end."""
    topic = pipeline.topics.dlq
    consumer = KafkaConsumer(
        **kafka_client_config(pipeline.settings),
        enable_auto_commit=False,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=32 * 1024 * 1024,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        ends = consumer.end_offsets(partitions)
        letters: list[DeadLetterRecord] = []

        def caught_up() -> bool:
            for batch in consumer.poll(timeout_ms=500).values():
                for record in batch:
                    key = record.key.decode("utf-8", "replace") if record.key is not None else None
                    letters.append(DeadLetterRecord(key, json.loads(record.value), len(record.value)))
            return all(consumer.position(tp) >= ends[tp] for tp in partitions)

        wait_for(caught_up, timeout=120, what=f"the end of {topic}", interval=0)
        return letters
    finally:
        consumer.close()


def account(
    pipeline: LocalPipeline,
    produced: Iterable[str],
    unkeyed: int = 0,
    letters: Sequence[DeadLetterRecord] | None = None,
) -> Accounting:
    """Compare the index (through the alias) and the dead-letter topic with what was produced.

    ``letters`` are the dead-letter topic's records when the caller has read them already.
    """
    records = dead_letters(pipeline) if letters is None else letters
    return tally(produced, indexed_ids(pipeline), [record.key for record in records], unkeyed)


def tally(
    produced: Iterable[str], docs: Sequence[str], letter_keys: Sequence[str | None], unkeyed: int = 0
) -> Accounting:
    """The accounting of ``produced`` keys (post ids, each a distinct post) against the _ids of the
    documents found and the keys of the dead letters found.

    ``unkeyed`` counts messages sent without a usable key (say an unparseable file line): they can
    only end as dead letters whose key matches nothing produced.
    """
    expected = set(produced)
    distinct = set(docs)
    keyed_letters = Counter(k for k in letter_keys if k is not None and k in expected)
    unmatched_letters = len(letter_keys) - sum(keyed_letters.values())  # keyless, or a key nobody sent
    ended = distinct | set(keyed_letters)
    duplicated = (
        (len(docs) - len(distinct))  # a second document with one _id (two backing indices)
        + sum(n - 1 for n in keyed_letters.values())  # a post dead-lettered twice
        + len(distinct & set(keyed_letters))  # a post both indexed and dead-lettered
    )
    return Accounting(
        produced=len(expected) + unkeyed,
        documents=len(docs),
        distinct=len(distinct),
        dead_letters=len(letter_keys),
        lost=len(expected - ended) + max(0, unkeyed - unmatched_letters),
        duplicated=duplicated,
        unexpected=len(distinct - expected) + max(0, unmatched_letters - unkeyed),
    )


# --- waiting on the pipeline ------------------------------------------------------------------
def lag(pipeline: LocalPipeline) -> int:
    """Messages not yet committed by the enrich group (raw topic) and the index group (enriched topic)."""
    app_id = pipeline.settings.app_id
    admin = KafkaAdminClient(**kafka_client_config(pipeline.settings))
    consumer = KafkaConsumer(**kafka_client_config(pipeline.settings))
    try:
        behind = 0
        for group, topic in ((app_id, pipeline.topics.raw), (f"{app_id}-index", pipeline.topics.enriched)):
            committed = admin.list_group_offsets({group: None}).get(group, {})
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            ends = consumer.end_offsets(partitions)
            for tp in partitions:
                done = committed.get(tp)
                behind += ends[tp] - (done.offset if done is not None and done.offset >= 0 else 0)
        return behind
    finally:
        consumer.close()
        admin.close()


def wait_settled(pipeline: LocalPipeline, timeout: float = 240) -> None:
    """Wait until both consumer groups have committed everything in their topics, the worker alive.

    Then nothing more can reach the index or the dead-letter topic: the accounting is final.
    """

    def settled() -> bool:
        pipeline.assert_worker_alive()
        return lag(pipeline) == 0

    wait_for(settled, timeout=timeout, what="the pipeline to commit every message", interval=0.5)


def count(pipeline: LocalPipeline) -> int:
    """Documents through the alias; 0 while it is missing or its new shard is starting."""
    try:
        return pipeline.count()
    except ApiError as exc:
        if exc.meta.status in (404, 503):
            return 0
        raise


def wait_indexed(pipeline: LocalPipeline, at_least: int, timeout: float = 180) -> int:
    """Wait until the index holds at least ``at_least`` documents (worker alive); how many it holds."""

    def enough() -> int:
        pipeline.assert_worker_alive()
        n = count(pipeline)
        return n if n >= at_least else 0

    return wait_for(enough, timeout=timeout, what=f"{at_least} documents indexed", interval=0.1)


def wait_rising(
    pipeline: LocalPipeline, since: float, reading: Callable[[], float], above: float, timeout: float = 240
) -> float:
    """Seconds from ``since`` (a time.monotonic()) until ``reading()`` exceeds ``above``, the worker alive.

    ``reading`` is :func:`count`, or the worker's own ``ascolto_docs_indexed_total`` when the test
    cannot ask Elasticsearch for a baseline (it is frozen or down).
    """

    def risen() -> bool:
        pipeline.assert_worker_alive()
        return reading() > above

    wait_for(risen, timeout=timeout, what=f"indexing to resume (above {above:.0f})", interval=0.1)
    return time.monotonic() - since


def indexed_count(pipeline: LocalPipeline) -> Callable[[], float]:
    """What :func:`wait_rising` reads: documents through the alias."""
    return lambda: count(pipeline)


def indexed_metric(pipeline: LocalPipeline) -> Callable[[], float]:
    """What :func:`wait_rising` reads: documents the worker had acknowledged by Elasticsearch."""
    return lambda: metric(pipeline, "ascolto_docs_indexed_total")


def metric(pipeline: LocalPipeline, name: str) -> float:
    """A worker metric's value (summed over its labels); 0 when it has no sample yet."""
    return metric_total(pipeline.settings.metrics_port, name)
