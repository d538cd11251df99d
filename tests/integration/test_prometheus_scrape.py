"""A real Prometheus (Debian's, as `ascolto stack up --with-prometheus` runs it) scrapes a running
worker after N posts flowed through the real stack, and a running connector that registered itself as
a target: the pipeline's series are there, through Prometheus' own HTTP API, with values that match N."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from ascolto import launcher
from ascolto.stack.prometheus import LocalPrometheus
from ascolto.testing import LocalPipeline, free_port, make_post, wait_for
from core.settings import Settings

N = 40


def query(prometheus: LocalPrometheus, expr: str) -> list[dict]:
    url = f"{prometheus.endpoint}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as resp:
        body = json.load(resp)
    assert body["status"] == "success", body
    return body["data"]["result"]


def scalar(prometheus: LocalPrometheus, expr: str) -> float | None:
    result = query(prometheus, expr)
    return float(result[0]["value"][1]) if result else None


@pytest.fixture
def prometheus(pipeline: LocalPipeline, tmp_path: Path):
    settings = Settings(
        stack_dir=tmp_path / "stack",
        stack_prometheus_port=free_port(),
        metrics_port=pipeline.settings.metrics_port,
    )
    server = LocalPrometheus(settings, scrape_seconds=1)
    try:
        server.ensure_started()
        server.wait_ready()
        yield server
    finally:
        server.down()


def test_prometheus_scrapes_the_worker_and_its_series_match_the_posts(pipeline, prometheus):
    pipeline.start_worker()
    negative = [make_post(f"Servizio pessimo, orribile, vergognoso {i}", native_id=f"neg{i}") for i in range(N // 2)]
    positive = [make_post(f"Servizio ottimo, bellissimo, grazie {i}", native_id=f"pos{i}") for i in range(N // 2)]
    pipeline.publish(negative + positive)
    pipeline.wait_count(N)

    # Only this test's worker: other tests' workers may listen on the neighbouring ports it also scrapes.
    me = f'instance="127.0.0.1:{pipeline.settings.metrics_port}"'

    def settled() -> bool:
        return (
            scalar(prometheus, f"ascolto_docs_indexed_total{{{me}}}") == N
            and scalar(prometheus, f"ascolto_ingest_to_index_seconds_count{{{me}}}") == N
        )

    wait_for(settled, timeout=60, what="Prometheus to scrape the worker's counts of the posts")
    assert scalar(prometheus, f'up{{job="ascolto-worker",{me}}}') == 1
    assert scalar(prometheus, f'ascolto_messages_consumed_total{{agent="enrich",{me}}}') == N
    assert scalar(prometheus, f"ascolto_posts_enriched_total{{{me}}}") == N
    assert scalar(prometheus, f"sum(ascolto_topic_posts_total{{{me}}})") >= N  # a post counts once per topic
    assert scalar(prometheus, f'sum(ascolto_topic_posts_total{{sentiment="negative",{me}}})') >= 1
    assert scalar(prometheus, f"ascolto_bulk_docs_sum{{{me}}}") == N
    assert scalar(prometheus, f"ascolto_elasticsearch_up{{{me}}}") == 1
    # Every post took less than the test's own run time from Kafka to the index.
    assert scalar(prometheus, f'ascolto_ingest_to_index_seconds_bucket{{le="60.0",{me}}}') == N

    # Caught up: the index consumer reports a lag of 0 on every partition of posts.enriched.
    enriched = pipeline.topics.enriched

    def caught_up() -> bool:
        lags = query(prometheus, f'ascolto_consumer_lag{{agent="index",topic="{enriched}",{me}}}')
        return bool(lags) and all(float(s["value"][1]) == 0 for s in lags)

    wait_for(caught_up, timeout=30, what="the index consumer's lag series to reach 0")
    assert query(prometheus, f'ascolto_consumer_lag{{agent="enrich",{me}}}'), "no enrich lag series"

    # The rules from deploy/prometheus are loaded and evaluated.
    with urllib.request.urlopen(f"{prometheus.endpoint}/api/v1/rules", timeout=10) as resp:
        groups = {g["name"]: g for g in json.load(resp)["data"]["groups"]}
    assert {"ascolto-pipeline", "ascolto-recorded"} <= set(groups)
    assert all(r["health"] != "err" for g in groups.values() for r in g["rules"])


def test_prometheus_scrapes_a_connector_that_registered_itself(pipeline, prometheus, tmp_path):
    """`ascolto connect http --metrics-port P` with the stack's Prometheus set up writes its own target file:
    nobody writes one by hand, Prometheus finds it, its connector series count the N posts, and the file
    goes when the connector stops."""
    port, metrics_port, token = free_port(), free_port(), "scrape-token"
    env = {**pipeline.env, "ASCOLTO_STACK_DIR": str(prometheus.settings.stack_dir), "ASCOLTO_INGEST_TOKEN": token}
    log_path = tmp_path / "connector.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            launcher.ascolto_command(
                "connect", "http", "--port", str(port), "--source", "crm", "--metrics-port", str(metrics_port)
            ),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    target_file = prometheus.targets_dir / f"connector-{process.pid}.json"
    try:

        def ingest_up() -> bool:
            assert process.poll() is None, log_path.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    return resp.status == 200
            except OSError:
                return False

        wait_for(ingest_up, timeout=60, what="the ingest endpoint to answer")
        assert json.loads(target_file.read_text()) == [{"targets": [f"127.0.0.1:{metrics_port}"]}]

        posts = [make_post(f"Servizio pessimo numero {i}", native_id=f"c{i}") for i in range(N)]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/ingest",
            data=json.dumps(posts).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as resp:
            assert resp.status == 202
            assert json.load(resp)["accepted"] == N

        me = f'instance="127.0.0.1:{metrics_port}"'

        def scraped() -> bool:
            return (
                scalar(prometheus, f'ascolto_connector_received_total{{source="crm",{me}}}') == N
                and scalar(prometheus, f'ascolto_connector_acked_total{{source="http",{me}}}') == N
            )

        wait_for(scraped, timeout=60, what="Prometheus to scrape the connector's counts of the posts")
        assert scalar(prometheus, f'up{{job="ascolto-connectors",{me}}}') == 1
        assert scalar(prometheus, f'ascolto_connector_records_total{{source="http",kind="post",{me}}}') == N
        assert scalar(prometheus, f'ascolto_connector_delivery_errors_total{{source="http",{me}}}') in (None, 0)
        assert len(pipeline.read(pipeline.topics.raw, N)) == N  # what the series count is what Kafka has

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log_path.read_text()
        assert not target_file.exists(), "the connector left its target file behind"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
