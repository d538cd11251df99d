"""Spike detection through the real worker, on real Kafka and Elasticsearch.

One throw-away deployment, one rules file, one generated stream (in event time: 25 minutes of
posts, published at once, ordered by created_at on a single partition so that the allowed lateness
of a few seconds holds): a steady baseline, a burst of negative posts about billing, low-volume
noise about transport, a source that stops, and a hashtag nobody used before.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from ascolto.testing import LocalPipeline, make_post
from schemas import validate

pytestmark = pytest.mark.integration

RULES = """
rules:
  - name: billing_negative
    kind: negative_spike
    filters: {topic: [billing, transport]}
    key: topic
    window: 1m
    threshold_cur: 10
    warmup: 5
    language: it
  - name: source_silent
    kind: flatline
    key: source
    window: 1m
    minutes: 4
    min_expected: 10
    warmup: 5
  - name: new_hashtag
    kind: new_term
    window: 1m
    threshold_cur: 8
    warmup: 3
"""

_ids = itertools.count()


def post(text: str, at: datetime, source: str = "test") -> dict[str, Any]:
    return make_post(text, native_id=f"n{next(_ids)}", source=source, created_at=at.isoformat())


NEGATIVE_BILL = "My bill is wrong again, they charged me twice. Terrible, I hate this company!"
FINE_BILL = "Paid my bill today, all fine #tariffe"
TRAIN = "The new train timetable starts on Monday."
ANGRY_TRAIN = "The train was late again, awful and terrible service, I hate it"
RSS = "Comunicato: nuovi orari degli uffici"
BLACKOUT = "Power cut in the whole district #blackout"


def minute_of_posts(start: datetime, minute: int, *, burst: bool = False, rss: bool = True) -> list[dict[str, Any]]:
    """One minute of the stream; posts spread over the minute, in time order."""
    texts: list[tuple[str, str]] = [(FINE_BILL, "test")] * 9 + [(NEGATIVE_BILL, "test")] + [(TRAIN, "test")] * 2
    if rss:
        texts += [(RSS, "rss")] * 3
    if burst:
        texts += [(NEGATIVE_BILL, "test")] * 30 + [(ANGRY_TRAIN, "test")] * 6 + [(BLACKOUT, "test")] * 12
    base = start + timedelta(minutes=minute)
    step = 55 / len(texts)
    return [post(text, base + timedelta(seconds=i * step), source) for i, (text, source) in enumerate(texts)]


@pytest.fixture(scope="module")
def alerts(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    rules = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text(RULES, encoding="utf-8")
    with LocalPipeline(
        alert_rules=str(rules), alert_lateness_seconds="5", alert_tick_seconds="0.5", topic_partitions="1"
    ) as pipeline:
        pipeline.start_worker()
        start = (datetime.now(UTC) - timedelta(minutes=40)).replace(second=0, microsecond=0)
        stream: list[dict[str, Any]] = []
        for minute in range(25):
            # Minute 15: the burst. From minute 18 the rss source says nothing more.
            stream += minute_of_posts(start, minute, burst=minute == 15, rss=minute < 18)
        pipeline.publish(stream)
        # Billing: fired and resolved; rss: silent; blackout: new. Then a last look for anything more.
        records = pipeline.read(pipeline.topics.alerts, expected=4, timeout=180)
        found = [orjson.loads(r.value) for r in records]
        yield found


def by(alerts: list[dict[str, Any]], rule: str, key: str | None = None) -> list[dict[str, Any]]:
    return [a for a in alerts if a["rule"] == rule and (key is None or a["key"] == key)]


def test_a_negative_burst_about_one_topic_fires_once_and_then_resolves(alerts):
    billing = by(alerts, "billing_negative", "billing")
    assert [a["status"] for a in billing] == ["firing", "resolved"], billing
    fired, resolved = billing
    for alert in billing:
        validate("alert", alert)
    assert fired["id"] == resolved["id"]
    assert fired["negative"] >= 30 and fired["window_start"].endswith(":00.000Z")
    # What a reader needs to act: the change in words (the rule is Italian), samples, a ready search.
    assert fired["summary"].startswith("post negativi su billing: ")
    assert "di solito" in fired["summary"]
    assert 3 <= len(fired["samples"]) <= 5 and all(s["text"] and s["author"] for s in fired["samples"])
    assert "--topic billing" in fired["search"]["cli"] and "/api/search?" in fired["search"]["url"]
    assert resolved["resolution"]["window_start"] > fired["window_start"]


def test_low_volume_noise_under_the_minimum_count_fires_nothing(alerts):
    # Transport went from 0 to 6 negative posts in a minute: far above its usual, under threshold_cur.
    assert by(alerts, "billing_negative", "transport") == []


def test_a_source_that_stops_talking_flatlines(alerts):
    silent = by(alerts, "source_silent")
    assert [(a["key"], a["status"]) for a in silent] == [("rss", "firing")]
    assert silent[0]["total"] == 0


def test_a_new_hashtag_burst_fires_new_term_once(alerts):
    new = by(alerts, "new_hashtag")
    # #tariffe was there from the start: not new. #blackout appears in a burst: new, once.
    assert [(a["key"], a["status"]) for a in new] == [("blackout", "firing")]
    assert new[0]["summary"].startswith("new term blackout: 12 in 1 min")


def test_nothing_else_fired(alerts):
    assert len(alerts) == 4, [(a["rule"], a["key"], a["status"]) for a in alerts]
