"""``ascolto connect --config``: an RSS feed, two Mastodon instances, Jetstream and the ingest endpoint in one CLI
process against the real Kafka: every post once, a SIGKILL mid-stream resumed with no gap, a refused source
stopping alone with its sentence while the others deliver."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator

import aiohttp
import orjson
import pytest
from kafka import KafkaConsumer

from ascolto import launcher
from ascolto.testing import LocalPipeline, free_port, wait_for
from core.kafka import kafka_client_config
from tests.feeds import Feed, FeedServer, rss_document, rss_item
from tests.integration.mastodon_server import HOST_TAG, TOKEN, ThreadedMastodon, status
from tests.jetstream import JetstreamServer, post_event, post_id

INGEST_TOKEN = "config-test-ingest-token"


@pytest.fixture
def deployment() -> Iterator[LocalPipeline]:
    with LocalPipeline() as pipeline:  # own topics; no worker: the test reads posts.raw
        yield pipeline


def keys_until(pipeline: LocalPipeline, expected: set[str], timeout: float = 60) -> set[str]:
    """The distinct keys of posts.raw once they include ``expected`` (and a last short poll for extras)."""
    consumer = KafkaConsumer(
        pipeline.topics.raw, **kafka_client_config(pipeline.settings), auto_offset_reset="earliest"
    )
    keys: set[str] = set()
    try:

        def enough() -> bool:
            for batch in consumer.poll(timeout_ms=500).values():
                keys.update(r.key.decode() for r in batch)
            return expected <= keys

        try:
            wait_for(enough, timeout=timeout, what=f"{len(expected)} posts on posts.raw", interval=0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; missing: {sorted(expected - keys)[:10]}") from None
        keys.update(r.key.decode() for b in consumer.poll(timeout_ms=1500).values() for r in b)
    finally:
        consumer.close()
    return keys


def ingest(url: str, first: int, last: int) -> None:
    async def send() -> None:
        body = orjson.dumps([{"id": f"h{i}", "text": f"dal CRM {i}", "author": "crm"} for i in range(first, last + 1)])
        headers = {"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
            async with session.post(url, data=body, headers=headers) as resp:
                assert resp.status == 202, await resp.text()

    asyncio.run(send())


def answers(url: str) -> bool:
    async def probe() -> bool:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
                async with session.get(url) as resp:
                    return resp.status == 200
        except aiohttp.ClientError:
            return False

    return asyncio.run(probe())


def test_several_sources_in_one_process_every_post_once_through_a_sigkill_and_a_refused_source(deployment):
    http_port = free_port()
    with (
        FeedServer() as feeds,
        ThreadedMastodon() as m1,
        ThreadedMastodon() as m2,
        JetstreamServer(messages=[]) as jetstream,
    ):
        feeds.feeds["/avvisi.xml"] = Feed(rss_document(rss_item(n) for n in range(1, 11)))
        jetstream.add(*(post_event(n) for n in range(1, 16)))
        config = deployment.workdir / "sources.yaml"
        config.write_text(
            f"""
sources:
  - type: rss
    urls: ["{feeds.url("/avvisi.xml")}"]
    every: 1s
  - type: mastodon
    name: m1
    instance: {m1.url}
    hashtag: {HOST_TAG}
    token_env: M1_TOKEN
  - type: mastodon
    name: m2
    instance: {m2.url}
    hashtag: {HOST_TAG}
    token_env: M2_TOKEN
  - type: mastodon
    name: m1-refused
    instance: {m1.url}
    hashtag: {HOST_TAG}
    token_env: WRONG_TOKEN
  - type: bluesky
    url: {jetstream.url}
  - type: http
    port: {http_port}
""",
            encoding="utf-8",
        )
        env = {
            **deployment.env,
            "M1_TOKEN": TOKEN,
            "M2_TOKEN": TOKEN,
            "WRONG_TOKEN": "not-the-token",
            "ASCOLTO_INGEST_TOKEN": INGEST_TOKEN,
        }
        command = launcher.ascolto_command("connect", "--config", str(config))
        ingest_url = f"http://127.0.0.1:{http_port}/ingest"
        log_path = deployment.workdir / "connect.log"

        def expected(mastodon: int, bluesky: int, http: int) -> set[str]:
            """The ids of the first posts of each source (the feed's ids are read from Kafka: a hash)."""
            return (
                {f"mastodon:127.0.0.1:{server.port}/{i}" for server in (m1, m2) for i in range(1, mastodon + 1)}
                | {post_id(post_event(n)) for n in range(1, bluesky + 1)}
                | {f"http:h{i}" for i in range(1, http + 1)}
            )

        # --- first run: everything once; the refused source stops alone --------------------------------------
        with log_path.open("w") as log:
            child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_for(lambda: m1.streaming() and m2.streaming(), timeout=60, what="both Mastodon streams")
                wait_for(lambda: answers(f"http://127.0.0.1:{http_port}/healthz"), timeout=30, what="the endpoint")
                for i in range(1, 21):
                    m1.post(status(i, f"prima {i}"))
                    m2.post(status(i, f"first {i}"))
                ingest(ingest_url, 1, 10)
                wait_for(
                    lambda: "m1-refused stopped" in log_path.read_text(),
                    timeout=30,
                    what="the refused source's sentence",
                )
                first = keys_until(deployment, expected(20, 15, 10))
                rss_keys = {k for k in first if k.startswith("rss:")}
                assert len(rss_keys) == 10, sorted(first)
                assert first == (expected(20, 15, 10) | rss_keys)  # exactly these: nothing else, no gap
                checkpoints = deployment.settings.data_dir / "connectors"
                wait_for(
                    lambda: all((checkpoints / f"{n}.json").exists() for n in ("m1", "m2", "rss", "bluesky")),
                    timeout=30,
                    what="every source's checkpoint",
                )
            finally:
                child.send_signal(signal.SIGKILL)  # mid-stream: Jetstream and the feed are still being followed
                child.wait(30)
        assert child.returncode == -signal.SIGKILL
        output = log_path.read_text()
        assert "refused the access token (401)" in output and "set WRONG_TOKEN to a valid token" in output
        assert "not-the-token" not in output and "Traceback" not in output

        # --- while it is dead: new posts everywhere ----------------------------------------------------------
        wait_for(lambda: not m1.streaming() and not m2.streaming(), timeout=30, what="the streams to close")
        for i in range(21, 41):
            m1.post(status(i, f"mentre era giù {i}"))
            m2.post(status(i, f"while down {i}"))
        jetstream.add(*(post_event(n) for n in range(16, 26)))
        feeds.feeds["/avvisi.xml"] = Feed(rss_document(rss_item(n) for n in range(1, 16)))

        # --- restart: resumes each from its own checkpoint --------------------------------------------------
        with log_path.open("a") as log:
            child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_for(lambda: m1.streaming() and m2.streaming(), timeout=60, what="the streams to reopen")
                wait_for(lambda: answers(f"http://127.0.0.1:{http_port}/healthz"), timeout=30, what="the endpoint")
                ingest(ingest_url, 11, 15)
                second = keys_until(deployment, expected(40, 25, 15) | rss_keys)
                new_rss = {k for k in second if k.startswith("rss:")} - rss_keys
                assert len(new_rss) == 5
                assert second == expected(40, 25, 15) | rss_keys | new_rss  # no gap, nothing else
            finally:
                child.send_signal(signal.SIGTERM)
                child.wait(30)
        output = log_path.read_text()
        # The refused source makes the run end 1 once the others stopped cleanly on SIGTERM.
        assert child.returncode == 1, output
        assert "m1: " in output and "posts published" in output and "1 of 6 sources stopped: m1-refused" in output
