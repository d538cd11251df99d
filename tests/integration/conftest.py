"""Integration fixtures: the real local stack (started by `make test` or `ascolto stack up`) and one
isolated pipeline per test (own topics, index, consumer group) with a real worker process."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from ascolto.testing import LocalPipeline
from core.kafka import kafka_client_config
from core.settings import Settings
from elastic.client import es_client
from tests.environment import in_ci

START_HINT = "start it with `ascolto stack up` (or `make test`, which starts it)"
_DOWN = pytest.StashKey[str]()  # the sentence, when integration tests were skipped for it


def _kafka_answers(settings: Settings) -> bool:
    from kafka import KafkaAdminClient

    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        admin = KafkaAdminClient(**kafka_client_config(settings), request_timeout_ms=3000, bootstrap_timeout_ms=3000)
    except Exception:
        return False
    try:
        admin.list_topics()  # a metadata request
        return True
    except Exception:
        return False
    finally:
        admin.close()


def _elasticsearch_answers(settings: Settings) -> bool:
    try:
        client = es_client(settings).options(request_timeout=5, max_retries=0)
        return client.cluster.health(timeout="2s")["status"] in ("yellow", "green")
    except Exception:
        return False


def stack_down_sentence(settings: Settings) -> str | None:
    """None when Kafka and Elasticsearch both answer, else the one sentence saying which does not."""
    down = []
    if not _kafka_answers(settings):
        down.append(f"Kafka at {settings.kafka_brokers}")
    if not _elasticsearch_answers(settings):
        down.append(f"Elasticsearch at {settings.es_url_safe}")
    if not down:
        return None
    return f"The local stack is not running ({' and '.join(down)} did not answer): {START_HINT}."


@pytest.hookimpl(trylast=True)  # after `-m`/`-k` deselection: probe only if integration tests remain
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = [item for item in items if item.get_closest_marker("integration")]
    if not selected:
        return
    sentence = stack_down_sentence(Settings())
    if sentence is None:
        return
    if in_ci():  # CI runs every test: stop here with the sentence instead of 40 tracebacks
        pytest.exit(sentence, returncode=pytest.ExitCode.TESTS_FAILED)
    for item in selected:
        item.add_marker(pytest.mark.skip(reason=sentence))
    config.stash[_DOWN] = sentence


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
    if _DOWN in config.stash:
        terminalreporter.write_line(f"integration tests skipped: {config.stash[_DOWN]}", yellow=True)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[LocalPipeline]:
    with LocalPipeline(tmp_path) as p:
        yield p
