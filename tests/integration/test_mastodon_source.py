"""The Mastodon source against a Mastodon-compatible loopback server and real Kafka: every status once, through
dropped streams, 429s and 500s, restarts and malformed statuses; a bad token stops it in one sentence."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import orjson
import pytest

from ascolto import launcher
from ascolto.testing import LocalPipeline, free_port, wait_for, wait_until
from connectors.live import Backoff, CheckpointStore, LiveReport, SourceRefused, run_live
from connectors.mastodon import MastodonSource
from connectors.producer import PostProducer
from tests.integration.mastodon_server import (
    HOST_TAG,
    STATUSES_ONLY_TOKEN,
    TOKEN,
    FakeMastodon,
    ThreadedMastodon,
    notification,
    serve,
    status,
)


@pytest.fixture
def deployment() -> Iterator[LocalPipeline]:
    with LocalPipeline() as pipeline:  # own topics; no worker: the test reads posts.raw
        yield pipeline


def ids(first: int, last: int, port: int) -> set[str]:
    return {f"mastodon:127.0.0.1:{port}/{i}" for i in range(first, last + 1)}


#: The source's own streams open within seconds: wait half the shared default.
until = partial(wait_until, timeout=30)


class Run:
    """One run of the source with ``run_live`` and a real producer, until stopped."""

    def __init__(
        self, pipeline: LocalPipeline, port: int, store_dir: Path, token: str = TOKEN, mentions: bool = False
    ) -> None:
        url = f"http://127.0.0.1:{port}"
        if mentions:
            self.source = MastodonSource(url, timeline="mentions", token=token, idle_timeout=10)
        else:
            self.source = MastodonSource(url, hashtag=HOST_TAG, token=token, idle_timeout=10)
        self.store = CheckpointStore(store_dir, self.source.checkpoint_name)
        self.producer = PostProducer(pipeline.settings, stage="connector:mastodon")
        self.stop = asyncio.Event()
        backoff = Backoff(initial=0.05, rng=random.Random(2))
        self.task: asyncio.Task[LiveReport] = asyncio.create_task(
            run_live(self.source, self.producer, self.store, stop=self.stop, backoff=backoff)
        )

    async def finish(self) -> LiveReport:
        self.stop.set()
        try:
            return await asyncio.wait_for(self.task, timeout=30)
        finally:
            self.producer.close()


def raw_ids(pipeline: LocalPipeline, expected: int) -> list[str]:
    return [r.key.decode() for r in pipeline.read(pipeline.topics.raw, expected)]


def refusal(pipeline: LocalPipeline, port: int, store_dir: Path, token: str, mentions: bool = False) -> BaseException:
    """What a run against a fake instance that refuses ``token`` stops with (it must stop, refused)."""

    async def scenario() -> BaseException | None:
        runner = await serve(FakeMastodon(), port)
        try:
            run = Run(pipeline, port, store_dir, token=token, mentions=mentions)
            try:
                await asyncio.wait_for(run.task, timeout=30)
            except SourceRefused as exc:
                return exc
            finally:
                run.producer.close()
            return None
        finally:
            await runner.cleanup()

    refused = asyncio.run(scenario())
    assert isinstance(refused, SourceRefused)
    return refused


def test_every_status_once_through_drops_429_500_and_a_malformed_status(deployment, tmp_path):
    port = free_port()

    async def scenario() -> tuple[FakeMastodon, list[str], LiveReport]:
        fake = FakeMastodon()
        runner = await serve(fake, port)
        try:
            for i in range(90, 131):  # 90..100 were published by an earlier run; 101..130 came while away
                fake.timeline.append({"id": "115", "content": "no account"} if i == 115 else status(i, f"old {i}"))
            name = MastodonSource(f"http://127.0.0.1:{port}", hashtag=HOST_TAG).checkpoint_name
            CheckpointStore(tmp_path, name).save({"since_id": "100"})
            run = Run(deployment, port, tmp_path)
            await until(lambda: fake.listeners, "the stream to open")
            fake.drop_after = 10  # the server cuts the stream after 131..140; 141..200 are only in the timeline
            fake.next_answers = [429, 500, 500]
            for i in range(131, 201):
                fake.post(status(i, f"live {i}"))
            await until(lambda: len(fake.attempts) >= 5 and fake.listeners, "the source to reconnect")
            fake.send(b"{not json")
            for i in range(201, 206):
                fake.post(status(i, f"after {i}"))
            keys = await asyncio.to_thread(raw_ids, deployment, 104)
            report = await run.finish()
            return fake, keys, report
        finally:
            await runner.cleanup()

    fake, keys, report = asyncio.run(scenario())
    expected = (ids(101, 205, port)) - ids(115, 115, port)
    assert set(keys) == expected and len(keys) == len(expected) == 104  # no gap, no duplicate
    assert [code for _, code in fake.attempts] == [200, 429, 500, 500, 200]
    after_429 = fake.attempts[2][0] - fake.attempts[1][0]
    assert after_429 >= 0.29  # the server's Retry-After: 0.3 was honoured
    assert report.reconnects == 4 and report.rejected == 2
    letters = deployment.read_dead_letters(2)
    assert len(letters) == 2 and all("not a Mastodon status" in d["error"] for d in letters)
    assert {d["stage"] for d in letters} == {"connector:mastodon"}
    assert sorted(d["original"] for d in letters) == ['{"id":"115","content":"no account"}', "{not json"]
    store = CheckpointStore(tmp_path, MastodonSource(f"http://127.0.0.1:{port}", hashtag=HOST_TAG).checkpoint_name)
    assert store.load() == {"since_id": "205"}


def test_a_restart_backfills_what_was_posted_meanwhile_without_gap_or_duplicate(deployment, tmp_path):
    port = free_port()

    async def scenario() -> list[str]:
        fake = FakeMastodon()
        runner = await serve(fake, port)
        try:
            first = Run(deployment, port, tmp_path)
            await until(lambda: fake.listeners, "the stream to open")
            for i in range(1, 11):
                fake.post(status(i, f"first run {i}"))
            await asyncio.to_thread(raw_ids, deployment, 10)
            await first.finish()
            for i in range(11, 61):  # while the connector is down: two pages and a bit of backfill
                fake.post(status(i, f"while away {i}", reply_to=i - 1))
            second = Run(deployment, port, tmp_path)
            await until(lambda: fake.listeners, "the stream to reopen")
            for i in range(61, 66):
                fake.post(status(i, f"second run {i}"))
            keys = await asyncio.to_thread(raw_ids, deployment, 65)
            await second.finish()
            assert fake.timeline_requests >= 3  # 40 + 10 + the empty page that ends the backfill
            return keys
        finally:
            await runner.cleanup()

    keys = asyncio.run(scenario())
    assert sorted(keys) == sorted(ids(1, 65, port)) and len(keys) == 65


def test_a_bad_token_stops_the_source_with_one_sentence_naming_the_variable(deployment, tmp_path):
    port = free_port()
    refused = refusal(deployment, port, tmp_path, token="wrong")
    assert str(refused) == (
        f"127.0.0.1:{port} refused the access token (401) for the streaming API; "
        "set ASCOLTO_MASTODON_TOKEN to a valid token with the read scope."
    )


def test_a_status_reaches_kafka_as_the_documented_raw_post(deployment, tmp_path):
    port = free_port()

    async def scenario() -> None:
        fake = FakeMastodon()
        runner = await serve(fake, port)
        try:
            run = Run(deployment, port, tmp_path)
            await until(lambda: fake.listeners, "the stream to open")
            fake.post(status(7, "Il treno &amp; il ritardo", acct="luca@example.it", reply_to=6))
            await asyncio.to_thread(raw_ids, deployment, 1)
            await run.finish()
        finally:
            await runner.cleanup()

    asyncio.run(scenario())
    (record,) = deployment.read(deployment.topics.raw, 1)
    post = orjson.loads(record.value)
    assert post["id"] == f"mastodon:127.0.0.1:{port}/7" and post["text"] == "Il treno & il ritardo #ascolto"
    author = {"id": "luca@example.it", "handle": "luca@example.it", "name": "Luca@Example.It", "followers": 42}
    assert post["author"] == author
    assert post["in_reply_to"] == f"mastodon:127.0.0.1:{port}/6" and post["lang_hint"] == "it"
    assert post["url"] == "https://remote.example/@luca@example.it/7"
    assert post["metrics"] == {"likes": 3, "reposts": 2, "replies": 1}


def distinct_ids(pipeline: LocalPipeline, expected: int) -> set[str]:
    """Wait until posts.raw holds ``expected`` distinct ids (a replay after a kill may repeat some)."""

    def enough() -> set[str] | None:
        keys = set(raw_ids(pipeline, expected))
        return keys if len(keys) >= expected else None

    found = wait_for(enough, timeout=60, what=f"{expected} distinct posts")
    assert found is not None
    return found


def test_a_sigkilled_cli_resumes_from_its_checkpoint_with_backfill_and_no_gap(deployment):
    env = {**deployment.env, "ASCOLTO_MASTODON_TOKEN": TOKEN}
    with ThreadedMastodon() as server:
        command = launcher.ascolto_command("connect", "mastodon", "--instance", server.url, "--hashtag", HOST_TAG)
        log_path = deployment.workdir / "mastodon.log"
        with log_path.open("w") as log:
            child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_for(server.streaming, timeout=60, what="the connector's stream")
                for i in range(1, 21):
                    server.post(status(i, f"prima {i}"))
                assert distinct_ids(deployment, 20) == ids(1, 20, server.port)
                checkpoint = (
                    deployment.settings.data_dir / "connectors" / f"mastodon-127.0.0.1_{server.port}-tag-ascolto.json"
                )
                wait_for(
                    lambda: checkpoint.exists() and orjson.loads(checkpoint.read_bytes()) == {"since_id": "20"},
                    timeout=30,
                    what="the checkpoint of the last post, saved while the stream is quiet",
                )
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait(30)
        assert child.returncode == -signal.SIGKILL
        wait_for(lambda: not server.streaming(), timeout=30, what="the killed connector's stream to close")
        for i in range(21, 71):  # while it is dead: only in the timeline
            server.post(status(i, f"mentre era giù {i}"))
        with log_path.open("a") as log:
            child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                wait_for(server.streaming, timeout=60, what="the restarted connector's stream")
                for i in range(71, 76):
                    server.post(status(i, f"dopo {i}"))
                assert distinct_ids(deployment, 75) == ids(1, 75, server.port)  # no gap
            finally:
                child.send_signal(signal.SIGTERM)
                child.wait(30)
        assert child.returncode == 0, log_path.read_text()
        assert "posts published" in log_path.read_text()


def test_a_bad_token_stops_the_cli_with_one_sentence(deployment):
    with ThreadedMastodon() as server:
        result = launcher.run(
            ["connect", "mastodon", "--instance", server.url, "--hashtag", HOST_TAG, "--token-env", "MY_TOKEN"],
            env={**deployment.env, "MY_TOKEN": "wrong"},
            timeout=120,
        )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "refused the access token (401)" in output and "set MY_TOKEN to a valid token" in output
    assert "wrong" not in output  # the token itself is never printed


# --- mentions: the user's notification stream and GET /api/v1/notifications?types[]=mention ---------------


def mention_and_noise(fake: FakeMastodon, sid: int) -> None:
    """Mention ``sid`` (notification 1000 + 3 * sid) between a favourite and a follow, as a busy account gets."""
    fake.notify(notification(1000 + 3 * sid - 1, "favourite", status(sid + 500, "liked")))
    fake.notify(notification(1000 + 3 * sid, "mention", status(sid, f"@me ciao {sid}", acct="carla")))
    fake.notify(notification(1000 + 3 * sid + 1, "follow"))


def test_mentions_arrive_once_other_notifications_are_skipped_and_a_restart_backfills(deployment, tmp_path):
    port = free_port()

    async def scenario() -> tuple[FakeMastodon, list[str]]:
        fake = FakeMastodon()
        runner = await serve(fake, port)
        try:
            first = Run(deployment, port, tmp_path, mentions=True)
            await until(lambda: fake.notification_listeners, "the notification stream to open")
            for sid in range(1, 11):
                mention_and_noise(fake, sid)
            await asyncio.to_thread(raw_ids, deployment, 10)
            await first.finish()
            assert first.store.load() == {"since_id": str(1000 + 3 * 10)}  # the notification id, not the status's
            for sid in range(11, 56):  # while away: 45 mentions, more than a page of the notifications list
                mention_and_noise(fake, sid)
            second = Run(deployment, port, tmp_path, mentions=True)
            await until(lambda: fake.notification_listeners, "the notification stream to reopen")
            for sid in range(56, 61):
                mention_and_noise(fake, sid)
            keys = await asyncio.to_thread(raw_ids, deployment, 60)
            await second.finish()
            assert second.store.load() == {"since_id": str(1000 + 3 * 60)}
            return fake, keys
        finally:
            await runner.cleanup()

    fake, keys = asyncio.run(scenario())
    assert sorted(keys) == sorted(ids(1, 60, port)) and len(keys) == 60  # no gap, no duplicate, no favourite
    first_page = fake.notification_requests[0]
    assert first_page["types[]"] == ["mention"] and first_page["min_id"] == [str(1000 + 3 * 10)]
    assert len(fake.notification_requests) >= 3  # 40 + 5 + the empty page that ends the backfill
    (record,) = [r for r in deployment.read(deployment.topics.raw, 60) if r.key.decode().endswith("/60")]
    post = orjson.loads(record.value)
    assert post["text"] == "@me ciao 60 #ascolto" and post["author"]["handle"] == "carla@127.0.0.1:" + str(port)


@pytest.mark.parametrize(
    ("token", "answer"),
    [("wrong", "refused the access token (401)"), (STATUSES_ONLY_TOKEN, "refused the access token (403)")],
)
def test_mentions_with_a_bad_or_too_narrow_token_stop_with_one_sentence_naming_the_scope(
    deployment, tmp_path, token, answer
):
    port = free_port()
    refused = refusal(deployment, port, tmp_path, token=token, mentions=True)
    assert str(refused) == (
        f"127.0.0.1:{port} {answer} for the streaming API; "
        "set ASCOLTO_MASTODON_TOKEN to a valid token with the read:notifications scope."
    )


def test_mentions_without_a_token_stop_the_cli_with_one_sentence(deployment):
    env = {k: v for k, v in deployment.env.items() if k != "ASCOLTO_MASTODON_TOKEN"}
    with ThreadedMastodon() as server:
        result = launcher.run(
            ["connect", "mastodon", "--instance", server.url, "--timeline", "mentions", "--token-env", "NO_SUCH_VAR"],
            env=env,
            timeout=120,
        )
        assert not server.fake.notification_requests  # stopped before asking anything
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "needs the user's access token (scope read:notifications); set NO_SUCH_VAR." in output
