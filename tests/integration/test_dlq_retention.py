"""The dead-letter topic gets the configured retention at creation, and an existing one is brought up to date."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from ascolto.testing import wait_for
from core.kafka import TopicNames, ensure_topics, kafka_client_config
from core.settings import Settings

KEYS = ["retention.ms", "retention.bytes", "segment.ms"]


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = f"test-{uuid.uuid4().hex[:10]}."
    yield prefix
    admin = KafkaAdminClient(**kafka_client_config(Settings()))
    try:
        mine = [t for t in admin.list_topics() if t.startswith(prefix)]
        if mine:
            admin.delete_topics(mine)
    finally:
        admin.close()


def topic_configs(settings: Settings, topic: str) -> dict[str, str]:
    """The topic's configs as the broker reports them (defaults included)."""
    admin = KafkaAdminClient(**kafka_client_config(settings))
    try:
        described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, KEYS)], config_filter="all")
    finally:
        admin.close()
    return {key: entry["value"] for key, entry in described["topic"][topic].items()}


def test_dlq_retention_is_set_at_creation_and_kept_up_to_date(prefix: str) -> None:
    settings = Settings(topic_prefix=prefix, dlq_retention_days=2, dlq_retention_bytes=5_000_000)
    names = ensure_topics(settings)
    created = {"retention.ms": str(2 * 86_400_000), "retention.bytes": "5000000"}
    wait_for(
        lambda: {k: v for k, v in topic_configs(settings, names.dlq).items() if k in created} == created,
        timeout=30,
        what=f"{names.dlq} created with {created}",
    )
    # Only the dead-letter topic: posts.raw keeps the broker's retention.
    assert topic_configs(settings, names.raw)["retention.bytes"] == "-1"

    # An operator's own setting on the topic must survive the update (incremental, not a replace).
    admin = KafkaAdminClient(**kafka_client_config(settings))
    try:
        admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, names.dlq, {"segment.ms": "3600000"})], incremental=True
        )
    finally:
        admin.close()

    wait_for(lambda: topic_configs(settings, names.dlq)["segment.ms"] == "3600000", timeout=30, what="segment.ms set")

    changed = Settings(topic_prefix=prefix, dlq_retention_days=0.5, dlq_retention_bytes=0)
    assert ensure_topics(changed) == TopicNames.of(changed)
    # A broker applies an accepted change once it reaches its copy of the cluster metadata: poll.
    wanted = {"retention.ms": str(43_200_000), "retention.bytes": "-1", "segment.ms": "3600000"}  # bytes 0: no limit
    wait_for(lambda: topic_configs(changed, names.dlq) == wanted, timeout=30, what=f"{names.dlq} configs {wanted}")

    unlimited = Settings(topic_prefix=prefix, dlq_retention_days=0)
    ensure_topics(unlimited)
    wait_for(lambda: topic_configs(unlimited, names.dlq)["retention.ms"] == "-1", timeout=30, what="retention.ms -1")
