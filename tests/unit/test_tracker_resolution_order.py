"""An alert fired on an open window is resolved only by a later window, never by one that closes before it."""

from streams.alerting.rules import parse_rules
from streams.alerting.tracker import Clock, KeyTracker, Sighting

T0 = 1_767_225_600  # 2026-01-01T00:00:00Z
RULE = parse_rules(
    """
rules:
  - name: outage_negative
    kind: negative_spike
    key: all
    window: 1m
    threshold_cur: 20
    warmup: 3
"""
).get("outage_negative")


def test_the_window_before_a_burst_closing_late_does_not_resolve_the_burst():
    tracker, offset, events = KeyTracker(RULE.name, "all"), 0, []

    def posts(minute: int, n: int, at: float = 10.0) -> list[Sighting]:
        nonlocal offset
        out = []
        for _ in range(n):
            offset += 1
            out.append(Sighting(0, offset, T0 + minute * 60 + at, True, f"t:{offset}", "ann", "text", "negative"))
        return out

    # Steady minutes; each closes 60 s (the lateness) after it ends.
    for minute in range(10):
        events += tracker.add(RULE, posts(minute, 5), Clock(now=T0 + minute * 60 + 10, lateness=60.0))
    assert events == []
    # Minute 10 bursts while minute 9 is still open (within its lateness): the alert fires on minute 10.
    fired = tracker.add(RULE, posts(10, 60), Clock(now=T0 + 610, lateness=60.0))
    assert [e["status"] for e in fired] == ["firing"]
    # Minute 9 closes, as quiet as ever: it is before the burst and resolves nothing.
    assert tracker.advance(RULE, Clock(now=T0 + 661, lateness=60.0)) == []
    assert tracker.active is not None
    # Minute 10 closes still high; minute 11 is back to normal and resolves it, once.
    later = tracker.add(RULE, posts(11, 5), Clock(now=T0 + 670, lateness=60.0))
    later += tracker.advance(RULE, Clock(now=T0 + 781, lateness=60.0))
    assert [e["status"] for e in later] == ["resolved"]
    assert later[0]["id"] == fired[0]["id"]
    assert later[0]["resolution"]["window_start"] == "2026-01-01T00:11:00.000Z"
