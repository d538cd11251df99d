"""The pipeline's health as the console shows it (``GET /api/health``, docs/console.md).

The figures are the whole pipeline's, however many worker processes share the work: the
connectors' rate and the dead letters come from Kafka's offsets (records appended to a topic since
a time, by ``offsets_for_times``), the enrich and index rates from Elasticsearch (posts whose
``enriched_at``/``indexed_at`` is recent: enriched records keep their raw record's Kafka timestamp,
so the enriched topic's offsets would date a catching-up worker's work in the past), lag from the
consumer groups' committed offsets. One report is reused for ASCOLTO_CONSOLE_HEALTH_CACHE_SECONDS,
so any number of open pages costs Kafka and Elasticsearch a few requests per that time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from elasticsearch import AsyncElasticsearch

from core.kafka import TopicNames
from core.kafka_config import KafkaConnection
from core.settings import Settings
from elastic.console_queries import recent_body
from web.health import Readiness

log = logging.getLogger(__name__)

#: The window the per-stage rates are measured over.
RATE_WINDOW_SECONDS = 60
#: The window of the dead-letter count.
DLQ_WINDOW_SECONDS = 3600
#: Longest one Kafka or Elasticsearch request of a report may take.
REQUEST_TIMEOUT_SECONDS = 3.0


class KafkaOffsets:
    """Offsets of topics and consumer groups, read with one group-less consumer and one admin client,
    both started on first use and kept (aiokafka reconnects them by itself)."""

    def __init__(self, kafka: KafkaConnection, timeout: float = REQUEST_TIMEOUT_SECONDS) -> None:
        self.kafka = kafka
        self.timeout = timeout
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def _started(self) -> tuple[AIOKafkaConsumer, AIOKafkaAdminClient]:
        if self._consumer is None or self._admin is None:
            ms = int(self.timeout * 1000)
            consumer = AIOKafkaConsumer(enable_auto_commit=False, request_timeout_ms=ms, **self.kafka.for_aiokafka())
            admin = AIOKafkaAdminClient(request_timeout_ms=ms, **self.kafka.for_aiokafka())
            try:
                await asyncio.wait_for(consumer.start(), self.timeout)
                await asyncio.wait_for(admin.start(), self.timeout)
            except BaseException:
                await consumer.stop()
                await admin.close()
                raise
            self._consumer, self._admin = consumer, admin
        return self._consumer, self._admin

    async def close(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()
        if self._admin is not None:
            await self._admin.close()
        self._consumer = self._admin = None

    async def partitions(self, topic: str) -> list[TopicPartition]:
        _, admin = await self._started()
        # Fresh metadata each time: partitions may have been added.
        described = await asyncio.wait_for(admin.describe_topics([topic]), self.timeout)
        found = [t for t in described if t.get("topic") == topic and not t.get("error_code")]
        ids = sorted(p["partition"] for t in found for p in t.get("partitions", ()))
        return [TopicPartition(topic, p) for p in ids]

    async def appended_since(self, topic: str, since_ms: int) -> int:
        """Records appended to ``topic`` (all partitions) with a timestamp at or after ``since_ms``."""
        consumer, _ = await self._started()
        tps = await self.partitions(topic)
        if not tps:
            return 0
        ends = await asyncio.wait_for(consumer.end_offsets(tps), self.timeout)
        found = await asyncio.wait_for(consumer.offsets_for_times({tp: since_ms for tp in tps}), self.timeout)
        # No record at or after the time: none appended since.
        return sum(ends[tp] - (found[tp].offset if found.get(tp) else ends[tp]) for tp in tps)

    async def lag(self, group: str, topic: str) -> list[dict[str, Any]]:
        """Per partition of ``topic``: records the group has not committed yet (all of them before its first commit)."""
        consumer, admin = await self._started()
        tps = await self.partitions(topic)
        if not tps:
            return []
        ends = await asyncio.wait_for(consumer.end_offsets(tps), self.timeout)
        starts = await asyncio.wait_for(consumer.beginning_offsets(tps), self.timeout)
        committed = await asyncio.wait_for(admin.list_consumer_group_offsets(group, partitions=tps), self.timeout)
        rows = []
        for tp in tps:
            done = committed.get(tp)
            position = done.offset if done is not None and done.offset >= 0 else starts[tp]
            rows.append(
                {"group": group, "topic": tp.topic, "partition": tp.partition, "lag": max(0, ends[tp] - position)}
            )
        return rows


class PipelineHealth:
    """What ``/api/health`` answers, computed at most once per ``ttl`` seconds (concurrent callers share it)."""

    def __init__(
        self,
        es: AsyncElasticsearch,
        settings: Settings,
        readiness: Readiness,
        offsets: KafkaOffsets | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.es = es.options(request_timeout=REQUEST_TIMEOUT_SECONDS, max_retries=0)
        self.index = settings.es_index
        self.topics = TopicNames.of(settings)
        self.groups = {"enrich": settings.app_id, "index": f"{settings.app_id}-index"}
        self.readiness = readiness
        self.offsets = offsets or KafkaOffsets(KafkaConnection.from_settings(settings))
        self.ttl = settings.console_health_cache_seconds
        self.clock = clock
        self._lock = asyncio.Lock()
        self._at: float | None = None
        self._report: dict[str, Any] = {}

    async def report(self) -> dict[str, Any]:
        async with self._lock:
            if self._at is None or self.clock() - self._at >= self.ttl:
                self._report = await self._compute()
                self._at = self.clock()
            return self._report

    async def close(self) -> None:
        await self.offsets.close()

    async def _compute(self) -> dict[str, Any]:
        now_ms = int(self.clock() * 1000)
        minute_ago = now_ms - RATE_WINDOW_SECONDS * 1000
        (_, ready), raw, enriched, indexed, dlq, lag, status = await asyncio.gather(
            self.readiness.report(),
            self._kafka(self.offsets.appended_since(self.topics.raw, minute_ago), "posts.raw rate"),
            self._count_since("enriched_at", minute_ago),
            self._count_since("indexed_at", minute_ago),
            self._kafka(self.offsets.appended_since(self.topics.dlq, now_ms - DLQ_WINDOW_SECONDS * 1000), "dlq"),
            self._kafka(self._lags(), "consumer lag"),
            self._es_status(),
        )

        def rate(count: int | None) -> float | None:
            return None if count is None else round(count / RATE_WINDOW_SECONDS, 3)

        return {
            "ready": ready,
            "stages": [
                {"stage": stage, "posts_per_second": rate(count), "window_seconds": RATE_WINDOW_SECONDS}
                for stage, count in (("connectors", raw), ("enrich", enriched), ("index", indexed))
            ],
            "lag": lag,
            "dead_letters_last_hour": dlq,
            "elasticsearch": {"status": status},
        }

    async def _lags(self) -> list[dict[str, Any]]:
        enrich = await self.offsets.lag(self.groups["enrich"], self.topics.raw)
        return enrich + await self.offsets.lag(self.groups["index"], self.topics.enriched)

    async def _kafka(self, figure: Any, what: str) -> Any:
        try:
            return await figure
        except Exception as exc:  # the page shows "unknown"; /readyz says why
            log.debug("console health: %s unavailable (%s: %s)", what, type(exc).__name__, exc)
            return None

    async def _count_since(self, field: str, since_ms: int) -> int | None:
        try:
            resp = await self.es.count(index=self.index, ignore_unavailable=True, **recent_body(field, since_ms))
            return int(resp.body["count"])
        except Exception as exc:
            log.debug("console health: %s rate unavailable (%s)", field, type(exc).__name__)
            return None

    async def _es_status(self) -> str:
        try:
            resp = await self.es.cluster.health(timeout=f"{int(REQUEST_TIMEOUT_SECONDS) - 1}s")
            return str(resp.body.get("status", "unreachable"))
        except Exception:
            return "unreachable"
