"""The Bluesky source against a loopback Jetstream, publishing to the real Kafka."""

from __future__ import annotations

import asyncio
import os
import signal

import orjson
import pytest

from ascolto import launcher
from ascolto.testing import LocalPipeline, publish_live, wait_for
from connectors.bluesky import BlueskySource
from connectors.live import CheckpointStore, LiveReport, SourceRefused
from tests.jetstream import STEP, T0, JetstreamServer, other_events, post_event, post_id

pytestmark = pytest.mark.integration


def run(pipeline: LocalPipeline, server: JetstreamServer, source: BlueskySource | None = None) -> LiveReport:
    """Run the source until its checkpoint holds the server's last event (everything before is in Kafka)."""
    store = CheckpointStore(pipeline.workdir / "checkpoints", "bluesky")
    last = max((e["time_us"] for e in server.events()), default=1)
    return asyncio.run(
        publish_live(
            pipeline.settings,
            source or BlueskySource(url=server.url),
            store,
            done=lambda saved: saved.get("time_us", 0) >= last,
            timeout=120,
        )
    )


def raw_ids(pipeline: LocalPipeline, expected: int) -> list[str]:
    return [orjson.loads(r.value)["id"] for r in pipeline.read(pipeline.topics.raw, expected)]


def test_every_post_arrives_once_through_refusals_500s_and_a_dropped_connection(pipeline):
    posts = [post_event(n) for n in range(1, 41)]
    server = JetstreamServer([], refuse=[429, 500, 503], drop_after=15)
    server.add(*posts[:20], *other_events(20), b'{"did": "did:plc:x", "kind": "commit"', *posts[20:])
    with server:
        report = run(pipeline, server)
    ids = raw_ids(pipeline, 40)
    assert set(ids) == {post_id(p) for p in posts}  # no gap; a replay repeats ids, never invents new ones
    assert server.statuses == [429, 500, 503] and report.reconnects >= 4
    # The reconnect after the drop resumed 5 s before the last post Kafka had acknowledged.
    assert server.cursors[0] is None and server.cursors[1] is not None
    assert server.cursors[1] == T0 + 15 * STEP - 5_000_000
    [dead] = pipeline.read_dead_letters(1)
    assert "not JSON" in dead["error"] and dead["stage"] == "connector:bluesky"
    assert dead["original"] == '{"did": "did:plc:x", "kind": "commit"'


def test_a_restart_resumes_from_the_checkpoint_without_a_gap(pipeline):
    first, second = [post_event(n) for n in range(1, 21)], [post_event(n) for n in range(21, 41)]
    server = JetstreamServer([])
    server.add(*first)
    with server:
        run(pipeline, server)
        saved = CheckpointStore(pipeline.workdir / "checkpoints", "bluesky").load()
        assert saved == {"time_us": first[-1]["time_us"]}
        server.done.clear()
        server.add(*second)
        run(pipeline, server)
    assert server.cursors[-1] == first[-1]["time_us"] - 5_000_000
    assert set(raw_ids(pipeline, 40)) == {post_id(p) for p in first + second}


def test_keywords_filter_on_the_client(pipeline):
    server = JetstreamServer([])
    server.add(
        post_event(1, "Lo sportello INPS è chiuso"), post_event(2, "una bella giornata"), post_event(3, "inps ok")
    )
    with server:
        run(pipeline, server, BlueskySource(url=server.url, keywords=["inps"]))
    assert set(raw_ids(pipeline, 2)) == {post_id(post_event(n)) for n in (1, 3)}  # a replay may repeat one


def test_a_subscription_refused_stops_the_source_with_one_sentence(pipeline):
    server = JetstreamServer([], refuse=[404])
    with server, pytest.raises(SourceRefused, match=r"refused the subscription \(HTTP 404\); check --url"):
        run(pipeline, server)


def test_the_cli_killed_mid_stream_resumes_without_a_gap(pipeline):
    posts = [post_event(n) for n in range(1, 201)]
    server = JetstreamServer([], delay=0.01)
    server.add(*posts)
    checkpoint = CheckpointStore(pipeline.settings.data_dir / "connectors", "bluesky")
    args = ["connect", "bluesky", "--url", server.url]
    with server:
        cli = launcher.ChildProcess(args, env=pipeline.env, log_file=pipeline.workdir / "cli1.log").start()
        try:
            wait_for(lambda: checkpoint.load().get("time_us", 0) > posts[30]["time_us"], timeout=60, what="progress")
        finally:
            os.kill(cli.pid, signal.SIGKILL)
            cli.wait(10)
        killed_at = checkpoint.load()["time_us"]
        assert killed_at < posts[-1]["time_us"]  # killed mid-stream
        server.done.clear()
        restarts_at = len(server.cursors)
        cli = launcher.ChildProcess(args, env=pipeline.env, log_file=pipeline.workdir / "cli2.log").start()
        try:
            server.done.wait(60)
            ids = raw_ids(pipeline, 200)
        finally:
            cli.stop()
    assert set(ids) == {post_id(p) for p in posts}
    assert server.cursors[restarts_at] == killed_at - 5_000_000
