"""The per-key detector state: windows by event time, early firing, resolution, late posts, replays, backtests."""

from __future__ import annotations

import random

import pytest

from schemas import validate
from streams.alerting.rules import parse_rules
from streams.alerting.tracker import Clock, KeyTracker, Sighting, Window, backtest

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z, a multiple of every window length

RULES = parse_rules(
    """
rules:
  - name: billing_negative
    kind: negative_spike
    filters: {topic: [billing]}
    key: topic
    window: 1m
    threshold_cur: 10
    warmup: 5
    realert: 30m
    language: it
  - name: source_silent
    kind: flatline
    key: source
    window: 1m
    minutes: 5
    min_expected: 10
    warmup: 5
  - name: new_hashtag
    kind: new_term
    window: 1m
    threshold_cur: 8
    warmup: 3
  - name: volume_down
    kind: volume_spike
    key: all
    window: 1m
    direction: down
    threshold_ref: 10
    spike_height: 3
    z_score: null
"""
)
NEG = RULES.get("billing_negative")
FLAT = RULES.get("source_silent")
NEW = RULES.get("new_hashtag")
DOWN = RULES.get("volume_down")


class Feed:
    """Sightings with increasing offsets on one partition, as the detector's first stage sends them."""

    def __init__(self) -> None:
        self.offset = 0
        self.rng = random.Random(7)

    def posts(self, minute: float, n: int, negative: int = 0, terms: tuple[str, ...] = ()) -> list[Sighting]:
        out = []
        for i in range(n):
            self.offset += 1
            ts = T0 + minute * 60 + self.rng.uniform(0, 59)
            neg = i < negative
            out.append(
                Sighting(0, self.offset, ts, neg, f"test:{self.offset}", "ann", f"post {self.offset}",
                         "negative" if neg else "neutral", terms)
            )  # fmt: skip
        return out


def clock(minute: float) -> Clock:
    return Clock(now=T0 + minute * 60, lateness=30.0, rule_started=T0)


def steady(tracker: KeyTracker, rule, feed: Feed, minutes: range, n: int = 20, negative: int = 2) -> list[dict]:
    events = []
    for m in minutes:
        events += tracker.add(rule, feed.posts(m, n, negative), clock(m + 1))
    return events


def test_a_negative_burst_fires_while_its_window_is_open_then_resolves():
    tracker, feed = KeyTracker(NEG.name, "billing"), Feed()
    assert steady(tracker, NEG, feed, range(20)) == []
    # The burst's minute: 40 negative posts. The alert comes before the window closes.
    events = tracker.add(NEG, feed.posts(20, 45, negative=40), clock(20.5))
    assert [e["status"] for e in events] == ["firing"]
    alert = events[0]
    validate("alert", alert)
    assert alert["key"] == "billing" and alert["negative"] == 40 and alert["total"] == 45
    assert alert["summary"].startswith("post negativi su billing: 40 in 1 min, di solito 2")
    assert len(alert["samples"]) == 5 and all(s["sentiment"] == "negative" for s in alert["samples"])
    assert "--topic billing" in alert["search"]["cli"] and "sentiment=negative" in alert["search"]["url"]
    assert alert["notify"] is True
    # Back to normal: one resolution, same id, carrying the firing figures too.
    events = steady(tracker, NEG, feed, range(21, 24))
    assert [e["status"] for e in events] == ["resolved"]
    assert events[0]["id"] == alert["id"] and events[0]["negative"] == 40
    validate("alert", events[0])


def test_small_counts_under_threshold_cur_fire_nothing():
    tracker, feed = KeyTracker(NEG.name, "billing"), Feed()
    events = steady(tracker, NEG, feed, range(20), n=2, negative=0)
    # 2 → 6 negative posts: six times usual, but under threshold_cur (10).
    events += tracker.add(NEG, feed.posts(20, 6, negative=6), clock(21))
    events += steady(tracker, NEG, feed, range(21, 25), n=2, negative=0)
    assert events == []


def test_no_alert_during_warm_up():
    tracker, feed = KeyTracker(NEG.name, "billing"), Feed()
    steady(tracker, NEG, feed, range(3))
    assert tracker.add(NEG, feed.posts(3, 45, negative=40), clock(3.5)) == []


def test_a_replayed_sighting_is_not_counted_twice():
    tracker, feed = KeyTracker(NEG.name, "billing"), Feed()
    batch = feed.posts(0, 10, negative=3)
    tracker.add(NEG, batch, clock(0.5))
    tracker.add(NEG, batch, clock(0.5))  # the same offsets again, as after a crash before the commit
    window = tracker.windows[T0]
    assert (window.total, window.negative) == (10, 3)


def test_a_post_older_than_the_allowed_lateness_is_not_counted():
    tracker, feed = KeyTracker(NEG.name, "billing"), Feed()
    steady(tracker, NEG, feed, range(5))
    late = feed.posts(1, 1)
    tracker.add(NEG, late, clock(5))
    assert tracker.late == 1


def test_state_survives_a_round_trip_through_its_table_value():
    tracker, feed = KeyTracker(NEG.name, "billing"), Feed()
    steady(tracker, NEG, feed, range(10))
    tracker.add(NEG, feed.posts(10, 45, negative=40), clock(10.5))
    copy = KeyTracker.from_dict(tracker.to_dict())
    copy.load_history(tracker.history_dict())
    assert copy.to_dict() == tracker.to_dict() and copy.history_dict() == tracker.history_dict()
    # The restored copy does not fire again for the same spike, and resolves it.
    assert copy.add(NEG, feed.posts(10, 5, negative=5), clock(10.7)) == []
    events = steady(copy, NEG, feed, range(11, 14))
    assert [e["status"] for e in events] == ["resolved"]


def test_realert_holds_back_a_second_notification_for_the_same_key():
    tracker, feed = KeyTracker(NEG.name, "billing"), Feed()
    steady(tracker, NEG, feed, range(20))
    first = tracker.add(NEG, feed.posts(20, 45, negative=40), clock(20.5))
    steady(tracker, NEG, feed, range(21, 24))
    second = tracker.add(NEG, feed.posts(24, 45, negative=40), clock(24.5))
    assert first[0]["notify"] is True
    assert second and second[0]["notify"] is False and second[0]["id"] != first[0]["id"]


def test_a_silent_source_flatlines_by_stream_time_alone():
    tracker, feed = KeyTracker(FLAT.name, "rss"), Feed()
    events = steady(tracker, FLAT, feed, range(15), n=5, negative=0)
    assert events == []
    # No more posts: only time passes (the detector's timer advances every key).
    events = []
    for m in range(16, 24):
        events += tracker.advance(FLAT, clock(m))
    assert [e["status"] for e in events] == ["firing"]
    assert events[0]["kind"] == "flatline" and events[0]["total"] == 0
    events = tracker.add(FLAT, feed.posts(24, 5), clock(25.6))
    assert [e["status"] for e in events] == ["resolved"]


def test_a_new_hashtag_fires_once_and_an_old_one_does_not():
    feed = Feed()
    old = KeyTracker(NEW.name, "tariffe")
    events = []
    for m in range(10):
        events += old.add(NEW, feed.posts(m, 9, terms=("tariffe",)), clock(m + 1))
    assert events == []  # seen since the rule started: only new to the detector
    new = KeyTracker(NEW.name, "blackout")
    events = []
    for m in range(10, 14):
        events += new.add(NEW, feed.posts(m, 12, terms=("blackout",)), clock(m + 0.5))
    assert [e["status"] for e in events] == ["firing"]
    assert events[0]["summary"].startswith("new term blackout: ")


def test_a_drop_is_decided_when_its_window_closes():
    tracker, feed = KeyTracker(DOWN.name, "all"), Feed()
    assert steady(tracker, DOWN, feed, range(10), n=30, negative=0) == []
    events = tracker.add(DOWN, feed.posts(10, 3), clock(10.5))
    assert events == []  # the window is still open: 3 may still become 30
    events = tracker.advance(DOWN, clock(12))
    assert [e["kind"] for e in events] == ["volume_spike"]


def test_the_seasonal_baseline_takes_over_once_there_is_history():
    rule = parse_rules(
        "rules:\n  - {name: hourly, kind: volume_spike, key: all, window: 1h, threshold_cur: 5, warmup: 2}\n"
    ).get("hourly")
    tracker = KeyTracker(rule.name, "all")
    # Every day: 100 posts at 09:00, 10 the rest of the day, for four weeks of hourly windows.
    tracker.closed_until = T0
    events = []
    for hour in range(24 * 7 * 4):
        start = T0 + hour * 3600
        events += tracker._close(rule, start, Window(total=100 if hour % 24 == 9 else 10), clock(0))
    # The EWMA would call 09:00 a spike every day; the seasonal baseline knows 09:00 is busy.
    fired = [e for e in events if e["status"] == "firing"]
    assert {e["window_start"][11:13] for e in fired} == {"09"}
    # Fired on the first days only, while the EWMA was the baseline (three days of history needed).
    assert max(e["window_start"][:10] for e in fired) <= "2026-01-04"


@pytest.mark.parametrize("burst", [40, 0])
def test_backtest_finds_the_burst_in_window_counts(burst):
    series = {
        "billing": [(T0 + m * 60, 20, 2) for m in range(30)],
        "tariffe": [(T0 + m * 60, 20, 2) for m in range(30)],
    }
    series["billing"][20] = (T0 + 20 * 60, 45, burst or 2)
    findings = backtest(NEG, series)
    if burst:
        assert [(f.key, f.action) for f in findings] == [("billing", "fire"), ("billing", "resolve")]
        assert findings[0].window_start.timestamp() == T0 + 20 * 60
    else:
        assert findings == []


def test_an_alert_about_old_windows_is_raised_but_notifies_no_one():
    tracker, feed = KeyTracker(NEG.name, "billing"), Feed()
    steady(tracker, NEG, feed, range(20))
    # Read from the topic's history two hours later (a detector deployed today, a replay).
    old = Clock(now=T0 + 20.5 * 60, lateness=30.0, rule_started=T0, wall=T0 + 2 * 3600, notify_within=3600)
    (alert,) = tracker.add(NEG, feed.posts(20, 45, negative=40), old)
    assert alert["status"] == "firing" and alert["notify"] is False


def test_a_ratio_of_nearly_nothing_is_left_out_of_the_words():
    tracker, feed = KeyTracker(NEG.name, "billing"), Feed()
    steady(tracker, NEG, feed, range(20), n=20, negative=0)
    (alert,) = tracker.add(NEG, feed.posts(20, 45, negative=40), clock(20.5))
    assert alert["ratio"] is None and "×" not in alert["summary"] and "di solito 0" in alert["summary"]


VOLUME = parse_rules(
    "rules:\n  - {name: vol, kind: volume_spike, key: all, window: 1m, warmup: 5, threshold_cur: 10}\n"
).get("vol")


@pytest.mark.parametrize("stream_talked", [False, True])
def test_a_gap_in_the_whole_stream_is_not_learned_as_quiet(stream_talked):
    tracker, feed = KeyTracker(VOLUME.name, "all"), Feed()
    assert steady(tracker, VOLUME, feed, range(20), n=30) == []
    # 40 minutes without a single post in the stream (ascolto or its sources were down), then traffic as usual.
    gap = Clock(now=T0 + 61 * 60, lateness=30.0, stream_active=lambda start, end: stream_talked)
    assert tracker.advance(VOLUME, gap) == []
    events = tracker.add(VOLUME, feed.posts(61, 30), Clock(now=T0 + 61.9 * 60, lateness=30.0))
    if stream_talked:
        # The key alone was silent while the stream talked: its zeros are real, and 30 is far above them.
        assert [e["status"] for e in events] == ["firing"]
    else:
        assert events == []  # the usual 30 a minute is still usual
