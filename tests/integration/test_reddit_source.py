"""The Reddit source against a Reddit-compatible loopback server and the real Kafka: every thing once through
drops, 429s, 500s and expiring tokens, within the server's rate-limit budget; malformed things dead-lettered;
bad credentials and private subreddits refused in one sentence; a SIGKILLed CLI resumed without a gap."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from ascolto import launcher
from ascolto.testing import LocalPipeline, publish_live, wait_for
from connectors.live import CheckpointStore, SourceRefused
from connectors.reddit import RedditSource
from tests.reddit_server import CLIENT_ID, CLIENT_SECRET, USER_AGENT, RedditServer, comment_thing, post_thing


@pytest.fixture
def deployment() -> Iterator[LocalPipeline]:
    with LocalPipeline() as pipeline:  # own topics; no worker: the test reads posts.raw
        yield pipeline


def source(server: RedditServer, secret: str = CLIENT_SECRET, **options: object) -> RedditSource:
    return RedditSource(
        ["italy", "roma"],
        client_id=CLIENT_ID,
        client_secret=secret,
        user_agent=USER_AGENT,
        every=0.2,
        base_url=server.url,
        auth_url=server.auth_url,
        **options,  # type: ignore[arg-type]
    )


def raw_ids(pipeline: LocalPipeline, expected: int) -> list[str]:
    return [r.key.decode() for r in pipeline.read(pipeline.topics.raw, expected)]


def test_every_thing_once_through_drops_429_500s_and_token_expiry_within_the_budget(deployment, tmp_path):
    # 10 requests per 2 s window, tokens that expire after 3 s: the test sees several of each.
    with RedditServer(budget=10, window=2.0, expires_in=3) as server:
        server.add(*(post_thing(n, sub="italy" if n % 2 else "roma") for n in range(1, 21)))
        server.add(*(comment_thing(n) for n in range(1, 21)))
        store = CheckpointStore(tmp_path, "reddit")
        state = {"phase": 0}

        def progress() -> bool:
            saved = store.load()
            newest = (saved.get("posts") or {}).get("newest")
            if state["phase"] == 0 and newest == post_thing(20)["data"]["created_utc"]:
                # The first poll is in: now the network misbehaves while 130 more posts (two pages) and
                # 10 comments (one removed, one malformed) arrive.
                state["phase"] = 1
                server.faults.extend([("drop",), ("status", 429), ("status", 500), ("status", 500), ("revoke",)])
                server.add(*(post_thing(n) for n in range(21, 151)))
                malformed = comment_thing(25)
                del malformed["data"]["created_utc"]
                server.add(*(comment_thing(n) for n in range(21, 31) if n != 25), malformed)
                server.add(comment_thing(31, body="[removed]"))
                return False
            return (
                state["phase"] == 1
                and newest == post_thing(150)["data"]["created_utc"]
                and len((saved.get("comments") or {}).get("seen", [])) >= 30
            )

        report = asyncio.run(
            publish_live(deployment.settings, source(server), store, done=lambda _: progress(), timeout=90)
        )

        statuses = server.statuses()
        assert {-1, 429, 500, 401} <= set(statuses)
        assert statuses.count(401) == 1  # only the revoked token: expiring ones were renewed before they expired
        assert len(server.token_requests) >= 3 and set(server.token_requests) == {200}
        assert server.over_budget == 0 and server.max_per_window() <= 10  # the budget was never exceeded
        assert server.no_user_agent == 0

    keys = raw_ids(deployment, 179)
    expected = {f"reddit:t3_p{n}" for n in range(1, 151)} | {f"reddit:t1_c{n}" for n in range(1, 31) if n != 25}
    assert len(keys) == 179 and set(keys) == expected  # no gap, no duplicate; the removed comment is no post
    assert report.published == 179 and report.rejected == 1 and report.reconnects >= 4
    [dead] = deployment.read_dead_letters(1)
    assert "not a Reddit comment" in dead["error"] and "created_utc" in dead["error"]
    assert dead["stage"] == "connector:reddit" and "t1_c25" in dead["original"]


def test_a_thing_reaches_kafka_as_the_documented_raw_post(deployment, tmp_path):
    with RedditServer() as server:
        server.add(comment_thing(2, link=1, body="Il bus 64 non passa da un'ora &amp; nessuno risponde"))
        store = CheckpointStore(tmp_path, "reddit")
        asyncio.run(
            publish_live(
                deployment.settings,
                source(server, kinds=("comments",)),
                store,
                done=lambda saved: saved.get("comments"),
                timeout=90,
            )
        )
    (record,) = deployment.read(deployment.topics.raw, 1)
    post = orjson.loads(record.value)
    assert post["id"] == "reddit:t1_c2" and post["source"] == "reddit"
    assert post["text"] == "Il bus 64 non passa da un'ora &amp; nessuno risponde"  # raw_json=1: Reddit's own text
    assert post["author"] == {"id": "t2_9za7q", "handle": "giulia_b"}
    assert post["in_reply_to"] == "reddit:t1_c1" and post["raw"]["conversation_id"] == "reddit:t3_p1"
    assert post["url"] == "https://www.reddit.com/r/italy/comments/p1/post_1/c2/"


def refusal(deployment: LocalPipeline, src: RedditSource, tmp_path: Path) -> SourceRefused:
    store = CheckpointStore(tmp_path, "reddit")
    with pytest.raises(SourceRefused) as caught:
        asyncio.run(publish_live(deployment.settings, src, store, done=lambda _: False, timeout=90))
    return caught.value


def test_bad_credentials_stop_the_source_with_one_sentence_naming_the_variables(deployment, tmp_path):
    with RedditServer() as server:
        refused = refusal(deployment, source(server, secret="wrong-secret"), tmp_path)
    assert str(refused) == (
        "Reddit refused the app's client credentials (401); check ASCOLTO_REDDIT_CLIENT_ID and "
        "ASCOLTO_REDDIT_CLIENT_SECRET (the id and secret of an app registered at https://www.reddit.com/prefs/apps)."
    )
    assert server.statuses() == []  # no listing was asked for without a token


def test_a_private_subreddit_stops_the_source_naming_it(deployment, tmp_path):
    with RedditServer() as server:
        server.faults.append(("status", 403))
        refused = refusal(deployment, source(server), tmp_path)
    assert "403 for r/italy+roma" in str(refused) and "private, quarantined or banned" in str(refused)


def distinct_ids(pipeline: LocalPipeline, expected: int) -> set[str]:
    """Wait until posts.raw holds ``expected`` distinct ids (a replay after a kill may repeat some)."""

    def enough() -> set[str] | None:
        keys = set(raw_ids(pipeline, expected))
        return keys if len(keys) >= expected else None

    found = wait_for(enough, timeout=90, what=f"{expected} distinct posts")
    assert found is not None
    return found


def test_a_sigkilled_cli_resumes_from_its_checkpoint_without_a_gap(deployment):
    env = {
        **deployment.env,
        "ASCOLTO_REDDIT_CLIENT_ID": CLIENT_ID,
        "ASCOLTO_REDDIT_CLIENT_SECRET": CLIENT_SECRET,
        "ASCOLTO_REDDIT_USER_AGENT": USER_AGENT,
    }
    with RedditServer(budget=20, window=2.0) as server:
        server.add(*(post_thing(n) for n in range(1, 31)))
        command = launcher.ascolto_command(
            "connect", "reddit", "italy", "--kinds", "posts", "--every", "1s",
            "--base-url", server.url, "--auth-url", server.auth_url,
        )  # fmt: skip
        checkpoint = deployment.settings.data_dir / "connectors" / "reddit-italy-posts.json"
        log_path = deployment.workdir / "reddit.log"
        with log_path.open("w") as log:
            child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                assert distinct_ids(deployment, 30) == {f"reddit:t3_p{n}" for n in range(1, 31)}
                server.add(*(post_thing(n) for n in range(31, 61)))
                assert len(distinct_ids(deployment, 60)) == 60
                wait_for(checkpoint.exists, timeout=30, what="the connector's checkpoint")
            finally:
                child.send_signal(signal.SIGKILL)
                child.wait(30)
        assert child.returncode == -signal.SIGKILL
        server.add(*(post_thing(n) for n in range(61, 181)))  # while it is dead: more than a page
        with log_path.open("a") as log:
            child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            try:
                keys = distinct_ids(deployment, 180)
            finally:
                child.send_signal(signal.SIGTERM)
                child.wait(30)
        assert child.returncode == 0, log_path.read_text()
    assert keys == {f"reddit:t3_p{n}" for n in range(1, 181)}  # no gap
    # No duplicate beyond what was published after the last checkpoint save before the kill.
    assert len(raw_ids(deployment, 180)) - 180 <= 60 - 30


def test_bad_credentials_stop_the_cli_with_one_sentence(deployment):
    env = {
        **deployment.env,
        "ASCOLTO_REDDIT_CLIENT_ID": CLIENT_ID,
        "ASCOLTO_REDDIT_CLIENT_SECRET": "sekret-that-is-wrong",
    }
    with RedditServer() as server:
        result = launcher.run(
            ["connect", "reddit", "italy", "--base-url", server.url, "--auth-url", server.auth_url],
            env=env,
            timeout=120,
        )
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Traceback" not in output
    assert "refused the app's client credentials (401)" in output and "ASCOLTO_REDDIT_CLIENT_SECRET" in output
    assert "sekret-that-is-wrong" not in output  # the secret itself is never printed
