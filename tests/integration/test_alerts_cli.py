"""Alerts on the real stack: the worker indexes what the alerts topic carries (a resolution completes its firing
alert, a garbage record is dead-lettered, a re-published alert changes nothing), `ascolto alerts list|show` find
them, and `ascolto alerts backtest` replays a rule over posts indexed in Elasticsearch and finds the one burst."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from ascolto.testing import LocalPipeline, bootstrap_posts_index, wait_for
from core.kafka import kafka_client_config
from schemas import ALERT_HEADERS, alert_id, dumps, validate
from schemas import to_rfc3339 as _rfc3339

pytestmark = pytest.mark.integration


def to_rfc3339(at: datetime) -> str:
    return _rfc3339(at.isoformat())


def _alert(rule: str, key: str, start: datetime, **over: Any) -> dict[str, Any]:
    end = start + timedelta(minutes=10)
    ws, we = to_rfc3339(start), to_rfc3339(end)
    doc: dict[str, Any] = {
        "id": alert_id(rule, key, ws, we),
        "rule": rule,
        "key": key,
        "window_start": ws,
        "window_end": we,
        "metric": "negative",
        "observed": 48,
        "baseline": 5.0,
        "score": 21.5,
        "severity": "critical",
        "sample_post_ids": ["test:s1"],
        "created_at": to_rfc3339(start + timedelta(minutes=7)),
        "schema_version": 1,
        "status": "firing",
        "kind": "negative_spike",
        "key_kind": "topic",
        "language": "en",
        "summary": f"negative posts about {key}: 48 in 10 min, usually 5 ± 2, 9.6×",
        "total": 60,
        "negative": 48,
        "share_negative": 0.8,
        "baseline_std": 2.0,
        "ratio": 9.6,
        "top_terms": [{"term": "#bolletta", "count": 30}],
        "samples": [{"id": "test:s1", "text": "billed twice, again", "author": "anna"}],
        "search": {"cli": f"ascolto search --topic {key} --sentiment negative", "url": "http://x/api/search"},
        "notify": True,
    }
    doc.update(over)
    validate("alert", doc)
    return doc


def _caught_up(pipeline: LocalPipeline, group: str) -> bool:
    """Whether ``group`` committed every record of the alerts topic (read without joining the group)."""
    consumer = KafkaConsumer(**kafka_client_config(pipeline.settings), group_id=group, enable_auto_commit=False)
    try:
        topic = pipeline.topics.alerts
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(parts)
        return bool(parts) and all((consumer.committed(tp) or 0) >= end for tp, end in ends.items())
    finally:
        consumer.close()


def _alert_docs(pipeline: LocalPipeline) -> dict[str, dict[str, Any]]:
    index = f"{pipeline.settings.es_alerts_index}*"
    pipeline.es.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
    hits = pipeline.es.search(index=index, size=100, ignore_unavailable=True, allow_no_indices=True)["hits"]["hits"]
    return {hit["_id"]: hit["_source"] for hit in hits}


def test_the_worker_indexes_alerts_once_and_the_cli_finds_them(tmp_path: Path) -> None:
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=30)
    billing = _alert("billing_negative", "billing", start)
    billing_resolved = {
        **billing,
        "status": "resolved",
        "resolved_at": to_rfc3339(start + timedelta(minutes=40)),
        "resolution": {
            "window_start": to_rfc3339(start + timedelta(minutes=30)),
            "window_end": to_rfc3339(start + timedelta(minutes=40)),
            "observed": 4,
            "summary": "negative posts about billing back to usual: 4 in 10 min",
        },
    }
    outage = _alert("outage_volume", "outage", start + timedelta(minutes=10), kind="volume_spike", severity="warning")
    with LocalPipeline(tmp_path) as pipeline:
        pipeline.start_worker()
        producer = KafkaProducer(**kafka_client_config(pipeline.settings), acks="all")
        for key, value in (
            (billing["id"], dumps(billing)),
            ("garbage", b'{"id": "nope", "rule": '),
            (billing["id"], dumps(billing_resolved)),
            (outage["id"], dumps(outage)),
            (billing["id"], dumps(billing)),  # the detector publishing the firing alert again (after a crash, say)
        ):
            producer.send(pipeline.topics.alerts, key=key.encode(), value=value, headers=list(ALERT_HEADERS))
        producer.flush()
        producer.close()

        [letter] = pipeline.read_dead_letters(1)
        assert letter["stage"] == "alerts" and "not an Alert" in letter["error"]
        wait_for(
            lambda: _caught_up(pipeline, f"{pipeline.settings.app_id}-alerts-index"),
            timeout=120,
            what="the alerts index agent to commit every alert",
        )
        docs = _alert_docs(pipeline)
        assert sorted(docs) == sorted([billing["id"], outage["id"]])
        # The resolution replaced the firing document with the complete, resolved one, and the firing alert
        # published again afterwards did not undo it.
        assert docs[billing["id"]] == billing_resolved
        assert docs[outage["id"]] == outage

        listed = pipeline.cli("alerts", "list")
        rows = [line.split("\t") for line in listed.stdout.splitlines()]
        assert rows[0][:3] == ["raised (UTC)", "status", "severity"]
        assert [(r[1], r[3], r[4], r[6]) for r in rows[1:]] == [
            ("firing", "outage_volume", "outage", outage["id"]),  # newest first
            ("resolved", "billing_negative", "billing", billing["id"]),
        ]
        assert "2 alert(s)" in listed.stderr
        firing = pipeline.cli("alerts", "list", "--status", "firing", "--json").stdout.splitlines()
        assert [orjson.loads(line)["id"] for line in firing] == [outage["id"]]
        none = pipeline.cli("alerts", "list", "--rule", "no_such_rule")
        assert none.stdout == "" and "no alerts matching the filters" in none.stderr

        shown = pipeline.cli("alerts", "show", billing["id"][:10]).stdout
        for expected in (
            "negative posts about billing: 48 in 10 min, usually 5 ± 2, 9.6×",
            "anna: billed twice, again",
            "ascolto search --topic billing --sentiment negative",
            "negative posts about billing back to usual: 4 in 10 min",
        ):
            assert expected in shown
        unknown = pipeline.cli("alerts", "show", "0123456789abcdef", check=False)
        assert unknown.returncode == 1
        assert "no alert with id 0123456789abcdef" in unknown.stderr and "Traceback" not in unknown.stderr


RULES = """
rules:
  - name: billing_negative
    kind: negative_spike
    filters: {topic: [billing, outage]}
    key: topic
    window: 10m
    threshold_cur: 10
    warmup: 6
"""


def _post(n: int, topic: str, at: datetime, negative: bool) -> dict[str, Any]:
    return {
        "id": f"test:{topic}-{n}",
        "source": "test",
        "text": f"post {n} about {topic}",
        "created_at": to_rfc3339(at),
        "lang": "en",
        "author": {"handle": f"user{n % 7}"},
        "sentiment": {"label": "negative" if negative else "neutral", "compound": -0.6 if negative else 0.0},
        "topics": [topic],
        "entities": {"hashtags": [], "watch_terms": []},
    }


def test_backtest_finds_the_burst_in_the_indexed_posts_and_nothing_else(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    now = datetime.now(UTC)
    last = now.replace(minute=now.minute // 10 * 10, second=0, microsecond=0) - timedelta(minutes=10)
    first = last - timedelta(minutes=10 * 23)
    burst = first + timedelta(minutes=10 * 16)
    posts: list[dict[str, Any]] = []
    for w in range(24):
        window = first + timedelta(minutes=10 * w)
        for topic in ("billing", "outage", "weather"):
            negatives = 1 + w % 3
            total = 10
            if window == burst and topic in ("billing", "weather"):  # weather is not a topic of the rule
                negatives, total = 40, 48
            for i in range(total):
                n = len(posts)
                posts.append(_post(n, topic, window + timedelta(seconds=5 + i * 10), negative=i < negatives))
    with LocalPipeline(tmp_path) as pipeline:
        bootstrap_posts_index(pipeline.settings)
        body: list[Any] = []
        for post in posts:
            body += [{"index": {"_index": pipeline.settings.es_index, "_id": post["id"]}}, post]
        resp = pipeline.es.bulk(operations=body, refresh=True)
        assert not resp["errors"]

        since = to_rfc3339(first + timedelta(minutes=60))
        until = to_rfc3339(last + timedelta(minutes=10))
        args = ("alerts", "backtest", "billing_negative", "--rules", str(rules), "--since", since, "--until", until)
        found = [orjson.loads(line) for line in pipeline.cli(*args, "--json").stdout.splitlines()]
        assert [(f["key"], f["action"]) for f in found] == [("billing", "fire"), ("billing", "resolve")]
        assert datetime.fromisoformat(found[0]["window_start"]) == burst
        assert "40 in 10 min" in found[0]["summary"]

        text = pipeline.cli(*args)
        assert "fires" in text.stdout and "billing: negative posts about billing: 40 in 10 min" in text.stdout
        assert "billing_negative would have fired once for 1 key" in text.stderr

        quiet = pipeline.cli(*args[:-4], "--since", since, "--until", to_rfc3339(burst))
        assert quiet.stdout == "" and "would not have fired" in quiet.stderr

        missing = pipeline.cli("alerts", "backtest", "nope", "--rules", str(rules), check=False)
        assert missing.returncode == 1 and "No rule named 'nope'" in missing.stderr


NEW_TERM_RULES = """
rules:
  - name: new_tags
    kind: new_term
    window: 10m
    threshold_cur: 10
    lookback_days: 1
    new_for_minutes: 60
"""


def test_backtest_of_new_term_reads_the_lookback_and_keeps_the_newest_terms(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(NEW_TERM_RULES, encoding="utf-8")
    now = datetime.now(UTC)
    last = now.replace(minute=now.minute // 10 * 10, second=0, microsecond=0) - timedelta(minutes=10)
    windows = 26 * 6  # the day of lookback and two hours
    first = last - timedelta(minutes=10 * (windows - 1))
    posts: list[dict[str, Any]] = []

    def add(tag: str, at: datetime, count: int) -> None:
        for i in range(count):
            post = _post(len(posts), "misc", at + timedelta(seconds=5 + i), negative=False)
            post["entities"]["hashtags"] = [tag]
            posts.append(post)

    for w in range(windows):
        for tag in ("#acme", "#news", "#italia"):  # busy and old: never new
            add(tag, first + timedelta(minutes=10 * w), 3)
    add("#back", last - timedelta(hours=20), 2)  # seen within the lookback (and no longer new) ...
    add("#back", last - timedelta(minutes=50), 12)  # ... so this burst is not new
    burst = last - timedelta(minutes=60)
    add("#blackout", burst, 15)  # never seen before: new
    with LocalPipeline(tmp_path) as pipeline:
        bootstrap_posts_index(pipeline.settings)
        body: list[Any] = []
        for post in posts:
            body += [{"index": {"_index": pipeline.settings.es_index, "_id": post["id"]}}, post]
        assert not pipeline.es.bulk(operations=body, refresh=True)["errors"]

        since = to_rfc3339(last - timedelta(minutes=110))
        until = to_rfc3339(last + timedelta(minutes=10))
        # Two keys only: the busiest would be the old tags; the newest are #blackout and #back.
        args = ("alerts", "backtest", "new_tags", "--rules", str(rules), "--since", since, "--until", until)
        found = [orjson.loads(line) for line in pipeline.cli(*args, "--max-keys", "2", "--json").stdout.splitlines()]
        # #blackout resolves once it is no longer new (new_for_minutes); #back was seen in the lookback.
        assert [(f["key"], f["action"]) for f in found] == [("#blackout", "fire"), ("#blackout", "resolve")]
        assert datetime.fromisoformat(found[0]["window_start"]) == burst
        text = pipeline.cli(*args, "--max-keys", "2")
        assert "replaying the 2 keys" in text.stderr and "of 5" in text.stderr
        assert "new_tags would have fired once for 1 key" in text.stderr
