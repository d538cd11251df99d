"""``ascolto worker --processes 2`` on the real stack: two workers share one consumer group, one is
SIGKILLed mid-stream, and the index still ends with every post exactly once."""

from __future__ import annotations

import signal
import socket
import threading
from typing import Any

import psutil
from elasticsearch import ApiError
from elasticsearch.helpers import scan
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

from ascolto import launcher
from ascolto.testing import LocalPipeline, free_port, wait_for
from connectors.generator import GeneratorSource
from core.kafka import kafka_client_config

N = 20_000
PROCESSES = 2


def consecutive_free_ports(count: int) -> int:
    """A port p such that p .. p+count-1 are all free now (the supervisor uses base + i)."""
    while True:
        base = free_port()
        try:
            for port in range(base, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue


def assignments(pipeline: LocalPipeline, group: str) -> list[dict[str, list[int]]]:
    """Per member of ``group`` (when it is Stable): topic → assigned partitions."""
    admin = KafkaAdminClient(**kafka_client_config(pipeline.settings))
    try:
        described = admin.describe_groups([group])[group]
    finally:
        admin.close()
    if described["group_state"] != "Stable":
        return []
    return [
        {a["topic"]: list(a["partitions"]) for a in m["member_assignment"]["assigned_partitions"]}
        for m in described["members"]
    ]


def groups_shared(pipeline: LocalPipeline) -> bool:
    """Both processes hold raw partitions (enrich group) and enriched partitions (index group),
    and exactly one of them holds the lifecycle leader partition."""
    app_id = pipeline.settings.app_id
    enrich = assignments(pipeline, app_id)
    index = assignments(pipeline, f"{app_id}-index")
    leaders = [m for m in enrich if m.get(f"{app_id}-__assignor-__leader")]
    return (
        len(enrich) == PROCESSES
        and all(m.get(pipeline.topics.raw) for m in enrich)
        and len(index) == PROCESSES
        and all(m.get(pipeline.topics.enriched) for m in index)
        and len(leaders) == 1
    )


def indexed(pipeline: LocalPipeline) -> int:
    try:
        return pipeline.count()
    except ApiError as exc:
        if exc.meta.status == 503:  # the first backing index's shard is still starting
            return 0
        raise


def records_in(pipeline: LocalPipeline, topic: str) -> int:
    consumer = KafkaConsumer(**kafka_client_config(pipeline.settings))
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(partitions)
        starts = consumer.beginning_offsets(partitions)
        return sum(ends[tp] - starts[tp] for tp in partitions)
    finally:
        consumer.close()


def test_two_processes_share_the_group_and_a_killed_one_loses_and_duplicates_nothing(tmp_path):
    web, metrics = consecutive_free_ports(PROCESSES), consecutive_free_ports(PROCESSES)
    with LocalPipeline(tmp_path, web_port=str(web), metrics_port=str(metrics)) as pipeline:
        assert pipeline.settings.topic_partitions >= PROCESSES
        supervisor = launcher.ChildProcess(
            ["worker", "--processes", str(PROCESSES)], env=pipeline.env, log_file=pipeline.worker_log
        ).start()
        pipeline.worker = supervisor  # stopped on exit; wait_count checks it stays alive

        def children() -> list[int]:
            return [c.pid for c in psutil.Process(supervisor.pid).children() if c.is_running()]

        for i in range(PROCESSES):
            launcher.wait_answering(
                f"http://127.0.0.1:{web + i}/api/stats", alive=supervisor.running, log_file=pipeline.worker_log,
                what=f"worker process {i}", timeout=launcher.READY_TIMEOUT,
            )  # fmt: skip
            assert launcher.answers(f"http://127.0.0.1:{metrics + i}/metrics")
        wait_for(lambda: groups_shared(pipeline), timeout=120, what="both processes sharing both consumer groups")
        before = children()
        assert len(before) == PROCESSES

        posts = list(GeneratorSource(count=N, seed=808))
        published: dict[str, Any] = {}
        publisher = threading.Thread(target=lambda: published.update(n=pipeline.publish(posts)), daemon=True)
        publisher.start()

        # Mid-stream: some posts are in the index, not all of them.
        indexed_at_kill = wait_for(
            lambda: (n := indexed(pipeline)) >= N // 10 and n, timeout=180, what="posts indexed", interval=0.1
        )
        victim = before[-1]
        psutil.Process(victim).send_signal(signal.SIGKILL)
        assert indexed_at_kill < N, "every post was indexed before the kill: the test did not kill mid-stream"

        publisher.join(timeout=300)
        assert published.get("n") == N
        # The supervisor starts a new process in the dead one's place; the group rebalances.
        wait_for(
            lambda: len(now := children()) == PROCESSES and victim not in now, timeout=60, what="a restarted worker"
        )
        pipeline.wait_count(N, timeout=300)

        # No loss, no duplicate: exactly the published ids, each once.
        ids = [hit["_id"] for hit in scan(pipeline.es, index=pipeline.settings.es_index, _source=False)]
        assert len(ids) == N
        assert set(ids) == {p["id"] for p in posts}
        assert records_in(pipeline, pipeline.topics.dlq) == 0
        assert "killed by SIGKILL" in pipeline.worker_log.read_text()

        # After the rebalance the two processes share the work again, with one lifecycle leader.
        wait_for(lambda: groups_shared(pipeline), timeout=120, what="both processes sharing the groups again")

        # SIGTERM to the supervisor stops every child cleanly, and it exits 0.
        after = children()
        supervisor.stop()
        assert supervisor.wait(timeout=5) == 0, supervisor.log_tail()
        assert not [pid for pid in after if psutil.pid_exists(pid)]
