"""`ascolto dlq list|show|replay` on a real worker: posts dead-lettered by a fault that is then fixed
come back through the pipeline, each indexed once, and a second replay changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer

from ascolto import launcher
from ascolto.testing import LocalPipeline, free_port, make_post, wait_for
from connectors.dead_letter_replay import read_dead_letters
from connectors.producer import PostProducer
from core.kafka import kafka_client_config
from schemas import DEAD_LETTER_HEADERS, dead_letter, dumps
from tests.integration.fixable_plugin import FLAG_ENV

ENRICHERS = "language,sentiment,tests.integration.fixable_plugin:fixable"


def indexed(pipeline: LocalPipeline) -> dict[str, list[str]]:
    """Post id → the ``indexed_at`` of every copy in the index (more than one would be a duplicate)."""
    pipeline.es.indices.refresh(index=pipeline.settings.es_index)
    hits = pipeline.es.search(index=pipeline.settings.es_index, size=1000, query={"match_all": {}})["hits"]["hits"]
    copies: dict[str, list[str]] = {}
    for hit in hits:
        copies.setdefault(hit["_id"], []).append(hit["_source"]["indexed_at"])
    return copies


def test_fixed_dead_letters_are_replayed_once_and_a_second_replay_changes_nothing(tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    with LocalPipeline(tmp_path, enrichers=ENRICHERS) as pipeline:
        pipeline.env[FLAG_ENV] = str(flag)
        pipeline.start_worker()

        good = [make_post(f"all is fine with post {i}") for i in range(5)]
        fragile = [make_post(f"a fragile post, number {i}") for i in range(4)]
        pipeline.publish(good + fragile)
        with PostProducer(pipeline.settings, stage="connector:test") as producer:
            producer.reject(b'id,text\n"unterminated', "CSV row with an unterminated quote")
        raw = KafkaProducer(**kafka_client_config(pipeline.settings), acks="all")
        raw.send(pipeline.topics.raw, key=b"broken", value=b'{"id": "test:broken", "text": ')
        raw.flush()

        letters = pipeline.read_dead_letters(len(fragile) + 2)
        assert sorted(letter["stage"] for letter in letters) == ["connector:test", "decode", *["enrich:fixable"] * 4]
        pipeline.wait_count(len(good))

        # What the index sink writes when Elasticsearch refuses a post (a 403 on a write-blocked index, say).
        [enriched_record] = pipeline.read(pipeline.topics.enriched, expected=1)[:1]
        refused_post: dict[str, Any] = orjson.loads(enriched_record.value)
        refused_post.update(id="test:refused-by-es", text="refused by elasticsearch once")
        refused = dumps(refused_post)
        letter = dead_letter("index", "Elasticsearch refused it (403)", refused, topic=pipeline.topics.enriched,
                             partition=enriched_record.partition, offset=enriched_record.offset)  # fmt: skip
        raw.send(pipeline.topics.dlq, key=b"test:refused-by-es", value=dumps(letter), headers=list(DEAD_LETTER_HEADERS))
        raw.flush()
        raw.close()

        listed = pipeline.cli("dlq", "list").stdout.splitlines()
        assert listed[0].split("\t") == ["ref", "time (UTC)", "stage", "reason", "post id", "read from"]
        rows = {row[4]: row for row in (line.split("\t") for line in listed[1:])}
        assert len(listed) == 1 + 7
        for post in fragile:
            assert rows[post["id"]][2] == "enrich:fixable"
            assert "cannot handle fragile posts yet" in rows[post["id"]][3]
            assert rows[post["id"]][5].startswith("posts.raw[")
        newest = pipeline.cli("dlq", "list", "--limit", "2")
        assert len(newest.stdout.splitlines()) == 1 + 2 and "the newest 2 of 7" in newest.stderr
        only_index = pipeline.cli("dlq", "list", "--stage", "index").stdout
        assert "test:refused-by-es" in only_index and fragile[0]["id"] not in only_index

        shown = pipeline.cli("dlq", "show", fragile[0]["id"]).stdout
        assert "enrich:fixable" in shown and "cannot handle fragile posts yet" in shown
        assert fragile[0]["text"] in shown and pipeline.topics.raw in shown

        dry = pipeline.cli("dlq", "replay", "--dry-run").stderr
        assert "would replay 5 dead letter(s)" in dry
        assert len(indexed(pipeline)) == len(good)  # a dry run sends nothing

        flag.touch()  # the fix is deployed
        first = pipeline.cli("dlq", "replay").stderr
        assert "replayed 5 dead letter(s): 1 to" in first, first
        assert "skipped 2" in first and "malformed input (decode)" in first and "rejected by a connector" in first
        expected = {p["id"] for p in good + fragile} | {"test:refused-by-es"}
        pipeline.wait_count(len(expected))
        after_first = indexed(pipeline)
        assert set(after_first) == expected
        assert all(len(copies) == 1 for copies in after_first.values()), after_first

        letters_before = sum(1 for _ in read_dead_letters(pipeline.settings))
        second = pipeline.cli("dlq", "replay").stderr
        assert "replayed 5 dead letter(s)" in second, second
        replayed = [p["id"] for p in fragile] + ["test:refused-by-es"]

        def reindexed() -> bool:
            now = indexed(pipeline)
            return all(now.get(i, [""])[0] > after_first[i][0] for i in replayed)

        # Done once every replayed post was written again (a later indexed_at), then nothing else changed.
        wait_for(reindexed, timeout=120, what="the second replay to be indexed")
        after_second = indexed(pipeline)
        assert set(after_second) == expected
        assert all(len(copies) == 1 for copies in after_second.values()), after_second
        assert sum(1 for _ in read_dead_letters(pipeline.settings)) == letters_before  # nothing failed again
        pipeline.assert_worker_alive()


def test_dlq_of_a_deployment_without_dead_letters(pipeline: LocalPipeline) -> None:
    result = pipeline.cli("dlq", "list")
    assert f"no dead letters in {pipeline.topics.dlq}" in result.stderr
    replay = pipeline.cli("dlq", "replay")
    assert "replayed 0 dead letter(s)" in replay.stderr
    missing = pipeline.cli("dlq", "show", "0:99", check=False)
    assert missing.returncode == 1 and "no dead letter at 0:99" in missing.stderr


def test_kafka_down_is_one_sentence() -> None:
    env = launcher.child_env({"kafka_brokers": f"127.0.0.1:{free_port()}"})
    for args in (("dlq", "list"), ("dlq", "replay")):
        result = launcher.run(args, env=env, timeout=120)
        assert result.returncode == 1, result
        assert "Traceback" not in result.stderr
        assert "Cannot reach Kafka" in result.stderr, result.stderr
