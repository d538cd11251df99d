"""The Faust application: one factory wires topics, the enrichment chain and the agents."""

from __future__ import annotations

import logging

import faust
from elasticsearch import AsyncElasticsearch

from core.kafka import TopicNames
from core.kafka_config import KafkaConnection
from core.settings import Settings
from streams.alerting.rulebook import RuleBook
from streams.alerting.rulebook import warnings as rule_warnings
from streams.alerts_index_agent import add_alerts_index_agent
from streams.detect_agent import add_detector
from streams.enrich_agent import add_enrich_agent
from streams.enrichers import NATIVE
from streams.enrichers.chain import chain_from_settings
from streams.index_agent import add_index_agent
from streams.notify_agent import add_notifier
from streams.stream_topics import StreamTopics

log = logging.getLogger(__name__)


def create_app(settings: Settings, es: AsyncElasticsearch) -> faust.App:
    """A Faust app running the enrich and index agents for ``settings``, indexing through ``es``.

    The caller owns ``es`` (the worker shares it with its HTTP API and closes it at shutdown).
    """
    kafka = KafkaConnection.from_settings(settings)
    app = faust.App(
        settings.app_id,
        broker=kafka.faust_brokers(),
        # The same TLS context and SASL login as the connectors and the index consumer.
        broker_credentials=kafka.for_faust(),
        # Values stay bytes: the agents decode and validate them, so bad input becomes a dead letter
        # instead of a deserialisation crash inside Faust.
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        # Faust's own producer only carries the index agent's dead letters now: the enrich agent
        # publishes its batches through its own idempotent producer (streams.publishing).
        producer_acks=-1,
        producer_compression_type=None if settings.kafka_compression == "none" else settings.kafka_compression,
        producer_max_request_size=settings.max_message_bytes,
        consumer_max_fetch_size=settings.max_message_bytes,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        # Faust's 60 s session kept a SIGKILLed worker's partitions idle for a minute after its restart.
        broker_session_timeout=settings.kafka_session_timeout_seconds,
        broker_heartbeat_interval=settings.kafka_heartbeat_seconds,
        web_enabled=settings.web_port != 0,
        web_port=settings.web_port or 6066,
        web_bind=settings.web_bind,
        datadir=str(settings.data_dir / settings.app_id),
        store="memory://",
        autodiscover=False,
    )
    topics = StreamTopics.declare(app, TopicNames.of(settings), settings)
    detector = None
    if settings.alert_rules is not None:
        # Checked here, before any I/O: a worker never starts on a rules file it cannot use.
        rulebook = RuleBook(settings.alert_rules)
        for problem in rule_warnings(rulebook.rules, settings):
            log.warning(problem)
        detector = add_detector(app, settings, rulebook, TopicNames.of(settings), kafka)
        add_notifier(app, settings, rulebook)
    chain = chain_from_settings(settings)
    if NATIVE == "compiled":
        log.info("enrichers %s: hot modules compiled (mypyc)", ", ".join(chain.names))
    else:
        log.warning("enrichers %s run from source, about half as fast: run `ascolto compile`", ", ".join(chain.names))
    # One connection (one TLS context, secrets registered once) for Faust and both aiokafka clients.
    add_enrich_agent(app, topics, chain, settings, kafka, tap=detector.tap if detector else None)
    add_index_agent(app, topics, es, settings, kafka)
    # Alerts are indexed whoever raised them (another worker with rules, a test, a replay).
    add_alerts_index_agent(app, settings, es, kafka, topics)
    return app
