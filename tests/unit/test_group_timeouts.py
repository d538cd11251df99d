"""A worker killed and restarted gets back to work within the Kafka session, not Faust's minute."""

from __future__ import annotations

import asyncio

from elasticsearch import AsyncElasticsearch

from core.kafka_config import KafkaConnection
from core.settings import Settings
from streams.app import create_app
from streams.index_agent import batch_consumer


def test_both_consumer_groups_use_the_configured_session_and_heartbeat():
    settings = Settings(kafka_session_timeout_seconds=12)
    assert settings.kafka_heartbeat_seconds == 3.0

    async def build() -> tuple[float, float, int, int]:
        es = AsyncElasticsearch("http://127.0.0.1:1")
        try:
            app = create_app(settings, es)
            consumer = batch_consumer(settings, KafkaConnection.from_settings(settings), "t")
            await consumer.stop()  # never started: nothing to reach
            return (
                app.conf.broker_session_timeout,
                app.conf.broker_heartbeat_interval,
                consumer._session_timeout_ms,
                consumer._heartbeat_interval_ms,
            )
        finally:
            await es.close()

    assert asyncio.run(build()) == (12.0, 3.0, 12_000, 3_000)


def test_the_default_session_is_short_and_heartbeats_keep_well_inside_it():
    default = Settings()
    assert default.kafka_session_timeout_seconds == 10.0  # was Faust's 60 s for the enrich group
    assert default.kafka_heartbeat_seconds * 3 <= default.kafka_session_timeout_seconds
    assert Settings(kafka_session_timeout_seconds=6).kafka_heartbeat_seconds == 2.0
