"""Kafka goes away under a running worker: its log says so once, stays quiet, and it resumes after.

The outage is real: the worker runs against a Kafka of this test's own (free ports, temporary
directory), which the test stops and starts again; the shared Kafka is never touched.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ascolto.stack.kafka import LocalKafka
from ascolto.testing import LocalPipeline, free_port, make_post, wait_for
from core.settings import Settings

QUIET_WINDOW = 12.0  # seconds of outage over which log lines are counted


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[LocalKafka]:
    settings = Settings(
        stack_dir=tmp_path / "stack",
        stack_kafka_port=free_port(),
        stack_kafka_controller_port=free_port(),
        stack_kafka_sasl_ssl_port=free_port(),
        stack_kafka_heap="256m",
    )
    kafka = LocalKafka(settings)
    shared_libs = LocalKafka(Settings()).libs
    if (shared_libs / ".complete").exists():
        # The jars the shared stack already resolved, linked rather than fetched again with Maven.
        shutil.copytree(shared_libs, kafka.libs, copy_function=os.link)
    kafka.ensure_started()
    try:
        kafka.wait_ready()
        yield kafka
    finally:
        kafka.down()


def _lines(log: Path) -> list[str]:
    return log.read_text(errors="replace").splitlines()


def test_worker_log_during_a_kafka_outage_is_one_sentence_not_a_flood(own_kafka, tmp_path):
    with LocalPipeline(tmp_path / "pipeline", kafka_brokers=own_kafka.endpoint, log_repeat_seconds="30") as pipeline:
        pipeline.start_worker()
        pipeline.publish([make_post(f"prima dell'interruzione {i}") for i in range(5)])
        pipeline.wait_count(5)

        started = len(_lines(pipeline.worker_log))
        own_kafka.down()
        try:
            outage_began = time.monotonic()
            wait_for(
                lambda: any("is unreachable" in line for line in _lines(pipeline.worker_log)[started:]),
                timeout=60,
                what="the worker saying Kafka is unreachable",
            )
            time.sleep(max(0.0, QUIET_WINDOW - (time.monotonic() - outage_began)))  # the window being measured
            during = _lines(pipeline.worker_log)[started:]
            pipeline.assert_worker_alive()
        finally:
            own_kafka.ensure_started()  # the pipeline's clean-up needs it too
            own_kafka.wait_ready()

        # Before the limiter: ~150 ERROR lines a second. Now the sentence and the first line of
        # each kind of client error (a handful), whatever the window.
        assert len(during) <= 15, "\n".join(during[:40])
        sentences = [line for line in during if "is unreachable" in line]
        assert len(sentences) == 1
        assert f"Kafka at {own_kafka.endpoint} is unreachable" in sentences[0]
        assert "ASCOLTO_KAFKA_BROKERS" in sentences[0]

        wait_for(
            lambda: any("answers again" in line for line in _lines(pipeline.worker_log)[started:]),
            timeout=60,
            what="the worker saying Kafka answers again",
        )
        pipeline.publish([make_post(f"dopo l'interruzione {i}") for i in range(5)])
        pipeline.wait_count(10, timeout=240)
