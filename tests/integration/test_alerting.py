"""Spike detection through the real worker, on real Kafka and Elasticsearch.

One throw-away deployment, one rules file, one generated stream (in event time: 25 minutes of
posts, published at once, ordered by created_at on a single partition so that the allowed lateness
of a few seconds holds): a steady baseline, a burst of negative posts about billing, low-volume
noise about transport, a source that stops, and a hashtag nobody used before.
"""

from __future__ import annotations

import itertools
import signal
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
from aiosmtpd.controller import Controller
from kafka import KafkaConsumer

from ascolto.testing import LocalPipeline, free_port, make_post, wait_for
from core.kafka import kafka_client_config
from schemas import validate
from tests.integration.receivers import Mailbox, Receiver

pytestmark = pytest.mark.integration

RULES = """
rules:
  - name: billing_negative
    kind: negative_spike
    filters: {{topic: [billing, transport]}}
    key: topic
    window: 1m
    threshold_cur: 10
    warmup: 5
    language: it
    subscribers:
      - webhook: {{url: "http://127.0.0.1:{hook}/hook", secret_env: {secret_env}}}
      - email: {{to: [social@example.com]}}
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


SECRET_ENV = "ASCOLTO_TEST_DETECT_HOOK_SECRET"


@pytest.fixture(scope="module")
def subscribers() -> Iterator[tuple[Receiver, Mailbox, int]]:
    """The billing rule's subscribers, in this process: a webhook receiver checking signatures, an SMTP server."""
    secret = uuid.uuid4().hex
    mp = pytest.MonkeyPatch()
    mp.setenv(SECRET_ENV, secret)  # reaches the worker through its environment
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    receiver = Receiver(free_port(), secret).start()
    try:
        yield receiver, mailbox, smtp.port
    finally:
        receiver.stop()
        smtp.stop()
        mp.undo()


@pytest.fixture(scope="module")
def alerts(
    tmp_path_factory: pytest.TempPathFactory, subscribers: tuple[Receiver, Mailbox, int]
) -> Iterator[list[dict[str, Any]]]:
    receiver, mailbox, smtp_port = subscribers
    rules = tmp_path_factory.mktemp("rules") / "rules.yaml"
    rules.write_text(RULES.format(hook=receiver.port, secret_env=SECRET_ENV), encoding="utf-8")
    with LocalPipeline(
        alert_rules=str(rules),
        alert_lateness_seconds="5",
        alert_tick_seconds="0.5",
        topic_partitions="1",
        smtp_host="127.0.0.1",
        smtp_port=str(smtp_port),
        smtp_security="none",
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
        # The subscribers have heard of the firing and of the resolution before the deployment goes.
        wait_for(
            lambda: len(receiver.bodies) >= 2 and len(mailbox.messages) >= 2, timeout=60, what="two deliveries each"
        )
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


# --- a worker killed mid-window --------------------------------------------------------------------
RESTART_RULES = """
rules:
  - name: billing_negative
    kind: negative_spike
    filters: {topic: [billing]}
    key: topic
    window: 1m
    threshold_cur: 25
    warmup: 5
"""


def stored_tracker(pipeline: LocalPipeline, key: bytes) -> dict[str, Any] | None:
    """The newest state of one key in the detector's changelog topic, as a restarted worker recovers it."""
    consumer = KafkaConsumer(
        f"{pipeline.settings.app_id}-alert-trackers-changelog",
        **kafka_client_config(pipeline.settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=2000,
    )
    try:
        values = [r.value for r in consumer if r.key == key]
    finally:
        consumer.close()
    return orjson.loads(values[-1])["tracker"] if values and values[-1] is not None else None


def sigkill_and_restart(pipeline: LocalPipeline) -> None:
    assert pipeline.worker is not None
    psutil.Process(pipeline.worker.pid).send_signal(signal.SIGKILL)
    pipeline.worker.wait(timeout=30)
    pipeline.start_worker()


def burst_posts(start: datetime, first: int, count: int) -> list[dict[str, Any]]:
    """Negative billing posts in minute 15, the ``first``-th to the ``first + count``-th second of it."""
    base = start + timedelta(minutes=15)
    return [post(NEGATIVE_BILL, base + timedelta(seconds=first + i * 0.5)) for i in range(count)]


def test_a_worker_killed_mid_window_keeps_its_counts_and_raises_one_alert(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RESTART_RULES, encoding="utf-8")
    key = b"billing_negative\x1fbilling"
    start = (datetime.now(UTC) - timedelta(minutes=40)).replace(second=0, microsecond=0)
    window = str(int((start + timedelta(minutes=15)).timestamp()))
    with LocalPipeline(
        alert_rules=str(rules), alert_lateness_seconds="5", alert_tick_seconds="0.5", topic_partitions="1"
    ) as pipeline:
        pipeline.start_worker()
        baseline = [p for m in range(15) for p in minute_of_posts(start, m, rss=False)]
        pipeline.publish(baseline + burst_posts(start, 1, 15))

        # Half the burst is counted and stored: under threshold_cur, nothing fired yet. Kill the worker.
        def half_counted() -> bool:
            tracker = stored_tracker(pipeline, key)
            return bool(tracker) and tracker["windows"].get(window, {}).get("negative", 0) >= 15

        wait_for(half_counted, timeout=120, what="the first half of the burst in the detector's changelog")
        sigkill_and_restart(pipeline)

        # The second half after the restart: together over threshold_cur, so the spike fires, counted in full.
        pipeline.publish(burst_posts(start, 10, 15) + minute_of_posts(start, 16, rss=False))
        fired = [orjson.loads(r.value) for r in pipeline.read(pipeline.topics.alerts, expected=1, timeout=120)]
        assert [a["status"] for a in fired] == ["firing"]
        # Neither half alone reaches threshold_cur (25): the alert proves the counts survived the kill. It fires
        # as soon as the count gets there, so it may hold a few less than all 30; never more (nothing twice).
        assert 25 <= fired[0]["negative"] <= 30

        # Killed again while the alert is in force: the restarted worker knows it, fires nothing twice, resolves.
        wait_for(
            lambda: (stored_tracker(pipeline, key) or {}).get("active") is not None,
            timeout=60,
            what="the alert in force stored",
        )
        sigkill_and_restart(pipeline)
        pipeline.publish([p for m in range(17, 21) for p in minute_of_posts(start, m, rss=False)])
        records = pipeline.read(pipeline.topics.alerts, expected=2, timeout=120)
        alerts = [orjson.loads(r.value) for r in records]
        assert [(a["id"], a["status"]) for a in alerts] == [(fired[0]["id"], "firing"), (fired[0]["id"], "resolved")]


def test_each_subscriber_hears_once_of_the_spike_and_once_of_its_end(alerts, subscribers):
    receiver, mailbox, _ = subscribers
    (fired,) = [a for a in by(alerts, "billing_negative", "billing") if a["status"] == "firing"]
    # Exactly one signed webhook per event (the receiver refuses a bad signature with 401), nothing else.
    assert [(b["id"], b["status"]) for b in receiver.bodies] == [(fired["id"], "firing"), (fired["id"], "resolved")]
    assert receiver.rejected == 0
    # And one e-mail each, in the rule's language (Italian), with plain-text and HTML parts.
    subjects = [m["Subject"] for m in mailbox.messages]
    assert len(subjects) == 2 and "billing" in subjects[0] and "risolto" in subjects[1].lower(), subjects
    for message in mailbox.messages:
        kinds = {part.get_content_type() for part in message.walk()}
        assert {"text/plain", "text/html"} <= kinds


# --- rules reloaded while the worker runs ----------------------------------------------------------
def test_an_edited_rules_file_takes_effect_without_a_restart(tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(RESTART_RULES.replace("threshold_cur: 25", "threshold_cur: 1000"), encoding="utf-8")
    start = (datetime.now(UTC) - timedelta(minutes=40)).replace(second=0, microsecond=0)
    with LocalPipeline(
        alert_rules=str(rules),
        alert_lateness_seconds="5",
        alert_tick_seconds="0.5",
        topic_partitions="1",
        reload_seconds="0.5",
    ) as pipeline:
        pipeline.start_worker()
        pipeline.publish([p for m in range(15) for p in minute_of_posts(start, m, rss=False)])
        # A threshold of 1000 negative posts a minute: nothing fires. Lower it while the worker runs.
        rules.write_text(RESTART_RULES.replace("threshold_cur: 25", "threshold_cur: 10"), encoding="utf-8")
        wait_for(lambda: "Alert rules reloaded" in pipeline.log_tail(20_000), timeout=60, what="the reload")
        pipeline.publish(burst_posts(start, 1, 15) + minute_of_posts(start, 16, rss=False))
        fired = [orjson.loads(r.value) for r in pipeline.read(pipeline.topics.alerts, expected=1, timeout=120)]
        assert [(a["rule"], a["status"]) for a in fired] == [("billing_negative", "firing")]
        # A broken edit keeps the rules in force, and says so in the log.
        rules.write_text("rules:\n  - {name: x, kind: nope}\n", encoding="utf-8")
        wait_for(lambda: "cannot be used" in pipeline.log_tail(20_000), timeout=60, what="the rejected reload")
        pipeline.assert_worker_alive()
