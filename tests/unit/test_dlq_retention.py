"""The dead-letter topic's retention: what the settings mean to Kafka, and a cluster that refuses the change."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from kafka.errors import TopicAuthorizationFailedError

from core.kafka import dlq_retention, update_configs
from core.settings import Settings


def test_days_and_bytes_become_kafka_configs_and_zero_means_no_limit():
    assert dlq_retention(Settings()) == {"retention.ms": str(14 * 86_400_000), "retention.bytes": str(1024**3)}
    assert dlq_retention(Settings(dlq_retention_days=0, dlq_retention_bytes=0)) == {
        "retention.ms": "-1",
        "retention.bytes": "-1",
    }


class RefusingAdmin:
    """A managed cluster where this user may neither read nor change topic configs."""

    def __init__(self) -> None:
        self.altered: list[Any] = []

    def describe_configs(self, resources: Any, **kwargs: Any) -> Any:
        raise TopicAuthorizationFailedError()

    def alter_configs(self, resources: Any, **kwargs: Any) -> Any:
        self.altered.extend(resources)
        return {"topic": {resources[0].name: "TopicAuthorizationFailedError: [Error 29]"}}


def test_a_refused_change_is_one_warning_and_the_caller_carries_on(caplog: pytest.LogCaptureFixture):
    admin = RefusingAdmin()
    with caplog.at_level(logging.WARNING, logger="core.kafka"):
        update_configs(admin, "p.posts.dlq", {"retention.ms": "1000"})  # type: ignore[arg-type]
    assert [r.name for r in admin.altered] == ["p.posts.dlq"]
    [record] = caplog.records
    assert "retention.ms=1000" in record.getMessage() and "AlterConfigs" in record.getMessage()
