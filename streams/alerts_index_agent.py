"""The alerts index agent: ``<prefix>alerts`` → the alerts index (``ASCOLTO_ES_ALERTS_INDEX``), ``_id`` = alert id.

Like the posts index agent it reads Kafka in batches with its own aiokafka consumer (group
``<app id>-alerts-index``) and commits a batch's offsets only once Elasticsearch acknowledged
every alert of it (or the dead-letter topic took it): at-least-once, and idempotent because an
alert is indexed under its own id with a version that puts a resolution after its firing alert
(:func:`elastic.alerts.bulk_index_alerts`). While Elasticsearch is away the agent holds its batch
and retries with back-off; it never drops an alert. A record that is not an Alert v1 is
dead-lettered (stage ``alerts``) with the reason.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import faust
import orjson
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch

from core.kafka import TopicNames
from core.kafka_config import KafkaConnection
from core.settings import Settings
from elastic.alerts import alert_version, bulk_index_alerts
from elastic.templates import install_alerts_template
from schemas import InvalidMessage, validate
from streams import metrics
from streams.batching import Message
from streams.index_agent import batch_consumer, consume_batches
from streams.index_sink import BACKOFF_BASE_SECONDS, WARN_EVERY_SECONDS, DeadLetterSink, Partition
from streams.stream_topics import StreamTopics

log = logging.getLogger(__name__)

#: The dead-letter stage of records on the alerts topic that are not Alert v1 (or that Elasticsearch refuses).
STAGE = "alerts"


def decode_alert(value: bytes | None) -> dict[str, Any]:
    """An Alert v1 from a record's value, or :class:`InvalidMessage` saying why it is not one."""
    if value is None:
        raise InvalidMessage("not an Alert: the record has no value (tombstone)")
    try:
        alert = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise InvalidMessage(f"not an Alert: not JSON ({exc})") from None
    validate("alert", alert)
    return dict(alert)


class AlertsSink:
    """Indexes a batch of alert records, waiting while Elasticsearch is away; returns the offsets to commit.

    ``sleep`` and ``uniform`` are injectable so the back-off can be tested without waiting.
    """

    def __init__(
        self,
        client: AsyncElasticsearch,
        settings: Settings,
        dead_letter: DeadLetterSink,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        uniform: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.client = client
        self.settings = settings
        self.index = settings.es_alerts_index
        self.dead_letter = dead_letter
        self.ready = False
        self._sleep = sleep
        self._uniform = uniform
        self._attempt = 0
        self._last_warning = -WARN_EVERY_SECONDS

    async def write(self, batch: Sequence[Message]) -> dict[Partition, int]:
        """Index every valid alert of ``batch`` and dead-letter the rest; the offsets once all is done."""
        offsets: dict[Partition, int] = {}
        pending: dict[str, tuple[bytes, int, Message]] = {}
        for msg in batch:
            tp = (msg.topic, msg.partition)
            offsets[tp] = max(offsets.get(tp, 0), msg.offset + 1)
            try:
                alert = decode_alert(msg.value)
            except InvalidMessage as exc:
                await self.dead_letter(msg, STAGE, exc.reason)
                continue
            version = alert_version(alert)
            known = pending.get(alert["id"])
            # The later state of an alert wins, as it would in the index (a resolution over its firing).
            if known is None or version >= known[1]:
                pending[alert["id"]] = (orjson.dumps(alert), version, msg)
        self._attempt = 0
        while pending:
            try:
                await self._round(pending)
            except (TransportConnectionError, ConnectionTimeout, ApiError) as exc:
                self._warn(f"cannot index {len(pending)} alerts into {self.index} ({str(exc)[:200]}); retrying")
            if pending:
                await self._sleep(self._backoff())
        return offsets

    async def _round(self, pending: dict[str, tuple[bytes, int, Message]]) -> None:
        if not self.ready:
            # The alerts mapping before the first alert: without it the index would map them dynamically.
            await install_alerts_template(self.client, self.settings)
            self.ready = True
        items = await bulk_index_alerts(
            self.client, self.index, [(doc_id, body, version) for doc_id, (body, version, _) in pending.items()]
        )
        held = []
        for item in items:
            entry = pending.get(item.id)
            if entry is None:
                continue
            if item.outcome in ("indexed", "superseded"):
                del pending[item.id]
            elif item.outcome == "rejected":
                log.info("dead-lettering alert %s: %s", item.id, item.reason[:300])
                await self.dead_letter(entry[2], STAGE, item.reason)
                del pending[item.id]
            else:
                held.append(item.reason)
        if held:
            self._warn(f"Elasticsearch did not take {len(held)} alerts ({held[0][:200]}); retrying")

    def _warn(self, message: str) -> None:
        # A hold can last hours: one warning a minute says it without flooding the log.
        now = asyncio.get_running_loop().time()
        if now - self._last_warning >= WARN_EVERY_SECONDS:
            self._last_warning = now
            log.warning(message)

    def _backoff(self) -> float:
        metrics.INDEX_RETRIES.labels("alerts").inc()
        ceiling = min(self.settings.index_retry_max_seconds, BACKOFF_BASE_SECONDS * 2 ** min(self._attempt, 32))
        self._attempt += 1
        return self._uniform(0, ceiling)


def add_alerts_index_agent(
    app: faust.App, settings: Settings, es: AsyncElasticsearch, kafka: KafkaConnection, topics: StreamTopics
) -> None:
    """Index what the detector publishes on the alerts topic, in batches of up to ASCOLTO_INDEX_BATCH_SIZE."""

    sink = AlertsSink(es, settings, topics.dead_letter_of)
    source = TopicNames.of(settings).alerts

    @app.task
    async def index_alerts() -> None:
        consumer = batch_consumer(settings, kafka, source, group_suffix="alerts-index")
        await consume_batches(consumer, settings, "alerts-index", sink.write)
