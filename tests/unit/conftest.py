"""Unit tests run with no server: Kafka and Elasticsearch point at a closed port, so a unit test
that tried to reach the local stack would fail here instead of passing by luck."""

from __future__ import annotations

import pytest

NOWHERE = "127.0.0.1:1"


@pytest.fixture(autouse=True)
def no_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASCOLTO_KAFKA_BROKERS", NOWHERE)
    monkeypatch.setenv("ASCOLTO_ES_URL", f"http://{NOWHERE}")
