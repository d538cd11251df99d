"""Kafka topics of the architecture, their names under the configured prefix, and their creation.

How clients connect (brokers, TLS, SASL) is :mod:`core.kafka_config`."""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import AuthorizationError, KafkaError, TopicAlreadyExistsError

from core.errors import KafkaUnavailable
from core.kafka_config import KafkaConnection
from core.settings import Settings

RAW = "posts.raw"
ENRICHED = "posts.enriched"
DLQ = "posts.dlq"
ALERTS = "alerts"
#: The detector's internal topic: per rule and key counts, keyed so that each key has one partition (and one owner).
TALLIES = "alerts.tallies"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TopicNames:
    """Full names of the topics for one deployment (prefix applied)."""

    raw: str
    enriched: str
    dlq: str
    alerts: str
    tallies: str

    @classmethod
    def of(cls, settings: Settings) -> TopicNames:
        return cls(
            settings.topic(RAW),
            settings.topic(ENRICHED),
            settings.topic(DLQ),
            settings.topic(ALERTS),
            settings.topic(TALLIES),
        )


def kafka_client_config(settings: Settings) -> dict[str, Any]:
    """Connection and security options for any kafka-python client (see :class:`KafkaConnection`)."""
    return KafkaConnection.from_settings(settings).for_kafka_python()


def unreachable(settings: Settings, exc: BaseException | None = None) -> KafkaUnavailable:
    """The one sentence a user reads when Kafka does not answer or does not let ascolto in.

    kafka-python reports a refused TLS certificate or SASL login only as a bootstrap timeout, so
    the likely cause is found here by repeating the connection's first steps (TCP, then TLS).
    """
    connection = KafkaConnection.from_settings(settings)
    detail = f" ({type(exc).__name__})" if exc else ""
    where = f"Kafka at {settings.kafka_brokers_safe}"
    step = _first_failing_step(connection)
    if step == "tls":
        return KafkaUnavailable(
            f"{where} did not pass the TLS check{detail}: set ASCOLTO_KAFKA_SSL_CAFILE to the CA that signed the "
            "brokers' certificates (or fix ASCOLTO_KAFKA_SSL_CHECK_HOSTNAME / the broker address)."
        )
    if step is None and connection.uses_sasl:
        return KafkaUnavailable(
            f"{where} answered but did not accept the {connection.sasl_mechanism} login of user "
            f"{connection.username!r}{detail}: check ASCOLTO_KAFKA_USERNAME, ASCOLTO_KAFKA_PASSWORD "
            "and ASCOLTO_KAFKA_SASL_MECHANISM."
        )
    return KafkaUnavailable(
        f"Cannot reach {where}{detail}: start the local stack with "
        "`ascolto stack up` or point ASCOLTO_KAFKA_BROKERS at your brokers."
    )


def _first_failing_step(connection: KafkaConnection, timeout: float = 5.0) -> str | None:
    """The step no broker got past ("tcp" or "tls"), or None when one did."""
    failed = "tcp"
    for broker in connection.brokers:
        host, _, port = broker.rpartition(":")
        try:
            sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        except (OSError, ValueError):
            continue
        with sock:
            if connection.ssl_context is None:
                return None
            try:
                with connection.ssl_context.wrap_socket(sock, server_hostname=host.strip("[]")):
                    return None
            except (ssl.SSLError, ssl.CertificateError, OSError):
                failed = "tls"
    return failed


def dlq_retention(settings: Settings) -> dict[str, str]:
    """The dead-letter topic's retention configs from ``ASCOLTO_DLQ_RETENTION_*`` (0 means no limit: -1 to Kafka)."""
    days, size = settings.dlq_retention_days, settings.dlq_retention_bytes
    return {
        "retention.ms": str(round(days * 86_400_000) if days else -1),
        "retention.bytes": str(size if size else -1),
    }


def ensure_topics(settings: Settings, *, processes: int | None = None) -> TopicNames:
    """Create the pipeline's topics if missing, with the partitions and size limit configured,
    and keep the dead-letter topic's retention as configured.

    Relying on broker auto-creation would give one partition and the broker's default
    message size, which is too small for the dead letters of oversized posts. Topics that exist
    keep their partitions; with ``processes`` (worker processes about to share them), one warning
    says when the topics the workers read have fewer partitions than that, so some would idle.
    """
    names = TopicNames.of(settings)
    logging.getLogger("kafka").setLevel(logging.ERROR)
    try:
        admin = KafkaAdminClient(
            **KafkaConnection.from_settings(settings).for_kafka_python(),
            request_timeout_ms=10000,
            bootstrap_timeout_ms=15000,
        )
    except KafkaError as exc:
        raise unreachable(settings, exc) from None
    try:
        existing = set(admin.list_topics())
        configs = {"max.message.bytes": str(settings.max_message_bytes)}
        per_topic = {name: configs for name in (names.raw, names.enriched, names.alerts)}
        per_topic[names.dlq] = {**configs, **dlq_retention(settings)}
        # Tallies matter only until the detector has counted them (its state is in its changelog).
        per_topic[names.tallies] = {**configs, "retention.ms": str(7 * 86_400_000)}
        wanted = [
            NewTopic(name, settings.topic_partitions, settings.topic_replication, topic_configs=topic_configs)
            for name, topic_configs in per_topic.items()
            if name not in existing
        ]
        if wanted:
            try:
                admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created them meanwhile
        if names.dlq in existing:
            update_configs(admin, names.dlq, dlq_retention(settings))
        if processes is not None:
            consumed = (names.raw, names.enriched)
            counts = {t: settings.topic_partitions for t in consumed}
            counts.update(partition_counts(admin, [t for t in consumed if t in existing]))
            warn_few_partitions(settings, counts, processes)
    except KafkaError as exc:
        raise unreachable(settings, exc) from None
    finally:
        admin.close()
    return names


def update_configs(admin: KafkaAdminClient, topic: str, wanted: dict[str, str]) -> None:
    """Set the configs of an existing ``topic`` that differ from ``wanted``, leaving its others as they are.

    Incremental, so that settings an operator added by hand survive. Without the right to alter
    configs (a managed cluster), one warning says what to ask for and the caller carries on.
    """
    resource = ConfigResource(ConfigResourceType.TOPIC, topic, list(wanted))
    try:
        described = admin.describe_configs([resource], config_filter="all")
    except AuthorizationError:
        described = {}  # not allowed to read them: try setting them, which warns if refused too
    current = {key: entry.get("value") for key, entry in described.get("topic", {}).get(topic, {}).items()}
    changes = {key: value for key, value in wanted.items() if current.get(key) != value}
    if not changes:
        return
    listed = ", ".join(f"{key}={value}" for key, value in sorted(changes.items()))
    try:
        # raise_on_unknown would describe again and mistake a refused describe for unknown keys.
        result = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, changes)], incremental=True, raise_on_unknown=False
        )
        outcome = str(result.get("topic", {}).get(topic, "no answer"))
    except KafkaError as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    if outcome == "OK":
        log.info("Topic %s: set %s", topic, listed)
    else:
        log.warning(
            "Could not set %s on topic %s (%s): ask the Kafka administrator to set them, or to grant this user "
            "AlterConfigs on the topic.",
            listed,
            topic,
            outcome,
        )


def partition_counts(admin: KafkaAdminClient, topics: list[str]) -> dict[str, int]:
    """Partitions of each existing topic in ``topics``."""
    if not topics:
        return {}
    return {t["name"]: len(t["partitions"]) for t in admin.describe_topics(topics) if not t["error_code"]}


def warn_few_partitions(settings: Settings, counts: dict[str, int], processes: int) -> None:
    """One warning when a topic the workers read has fewer partitions than worker processes.

    A partition is read by one consumer of a group at a time: extra processes would only wait.
    """
    short = {topic: n for topic, n in counts.items() if n < processes}
    if not short:
        return
    fewest = min(short.values())
    first = min(short, key=lambda t: short[t])
    log.warning(
        "Only %d of the %d worker processes get work: the topics they read have fewer partitions (%s); add "
        "partitions with `kafka-topics.sh --bootstrap-server %s --alter --topic %s --partitions %d` and likewise "
        "for any other topic listed (posts already written stay in their partitions).",
        fewest,
        processes,
        ", ".join(f"{t}: {n}" for t, n in sorted(short.items())),
        settings.broker_list[0] if settings.broker_list else settings.kafka_brokers_safe,
        first,
        max(processes, settings.topic_partitions),
    )
