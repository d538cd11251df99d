"""Kafka topics of the architecture, their names under the configured prefix, and their creation."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from core.errors import KafkaUnavailable
from core.settings import Settings

RAW = "posts.raw"
ENRICHED = "posts.enriched"
DLQ = "posts.dlq"
ALERTS = "alerts"


@dataclass(frozen=True)
class TopicNames:
    """Full names of the topics for one deployment (prefix applied)."""

    raw: str
    enriched: str
    dlq: str
    alerts: str

    @classmethod
    def of(cls, settings: Settings) -> TopicNames:
        return cls(settings.topic(RAW), settings.topic(ENRICHED), settings.topic(DLQ), settings.topic(ALERTS))


def kafka_client_config(settings: Settings) -> dict[str, Any]:
    """Connection and security options shared by every kafka-python client."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.broker_list,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_sasl_mechanism:
        config["sasl_mechanism"] = settings.kafka_sasl_mechanism
        config["sasl_plain_username"] = settings.kafka_username
        config["sasl_plain_password"] = settings.kafka_password.get_secret_value() if settings.kafka_password else None
    return config


def unreachable(settings: Settings, exc: BaseException | None = None) -> KafkaUnavailable:
    """The one sentence a user reads when Kafka does not answer."""
    detail = f" ({type(exc).__name__})" if exc else ""
    return KafkaUnavailable(
        f"Cannot reach Kafka at {settings.kafka_brokers}{detail}: start the local stack with "
        "`ascolto stack up` or point ASCOLTO_KAFKA_BROKERS at your brokers."
    )


def ensure_topics(settings: Settings) -> TopicNames:
    """Create the pipeline's topics if missing, with the partitions and size limit configured.

    Relying on broker auto-creation would give one partition and the broker's default
    message size, which is too small for the dead letters of oversized posts.
    """
    names = TopicNames.of(settings)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    try:
        admin = KafkaAdminClient(**kafka_client_config(settings), request_timeout_ms=10000)
    except KafkaError as exc:
        raise unreachable(settings, exc) from None
    try:
        existing = set(admin.list_topics())
        configs = {"max.message.bytes": str(settings.max_message_bytes)}
        wanted = [
            NewTopic(name, settings.topic_partitions, settings.topic_replication, topic_configs=configs)
            for name in (names.raw, names.enriched, names.dlq, names.alerts)
            if name not in existing
        ]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created them meanwhile
    except KafkaError as exc:
        raise unreachable(settings, exc) from None
    finally:
        admin.close()
    return names
