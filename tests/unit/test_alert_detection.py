"""The spike-alert core on synthetic series: baselines and the four rule kinds, no servers."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest

from streams.alerting.baselines import DAY, Baseline, Ewma, SeasonalHistory, baseline_for
from streams.alerting.detection import Decision, Flatline, NegativeSpike, NewTerm, VolumeSpike

WINDOW = 10  # minutes
WARMUP = 12  # windows


def steady(n: int, mean: float, seed: int = 1) -> list[int]:
    """A noisy but steady count series around ``mean`` (Poisson-like)."""
    rng = random.Random(seed)
    return [max(0, round(rng.gauss(mean, mean**0.5))) for _ in range(n)]


def learned(series: list[int], half_life: float = 36) -> Ewma:
    state = Ewma.with_half_life(half_life)
    for count in series:
        state = state.update(count)
    return state


# --- baselines ----------------------------------------------------------------------------------
def test_ewma_learns_mean_and_spread_of_a_steady_series() -> None:
    base = learned(steady(400, 20)).baseline(WARMUP)
    assert base.ready and base.source == "ewma"
    assert 17 < base.mean < 23
    assert 2 < base.std < 7  # √20 ≈ 4.5


def test_ewma_is_not_ready_during_warm_up() -> None:
    assert not learned(steady(WARMUP - 1, 20)).baseline(WARMUP).ready
    assert learned(steady(WARMUP, 20)).baseline(WARMUP).ready


def test_ewma_state_round_trips_through_its_dict_and_json() -> None:
    state = learned(steady(50, 8))
    again = Ewma.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state
    assert again.update(30) == state.update(30)


def test_seasonal_history_round_trips_and_drops_old_seasons() -> None:
    history = SeasonalHistory(period=DAY, seasons=2)
    for day in range(5):
        history = history.record(day * DAY, day)
    assert sorted(history.counts) == [2 * DAY, 3 * DAY, 4 * DAY]
    assert SeasonalHistory.from_dict(json.loads(json.dumps(history.to_dict()))) == history


def test_seasonal_baseline_needs_enough_seasons_else_the_ewma_is_used() -> None:
    history = SeasonalHistory()
    for day in range(2):
        history = history.record(day * DAY, 50)
    ewma = learned(steady(100, 5))
    assert baseline_for(2 * DAY, ewma, history, warmup=WARMUP).source == "ewma"
    history = history.record(2 * DAY, 52)
    seasonal = baseline_for(3 * DAY, ewma, history, warmup=WARMUP)
    assert seasonal.source == "seasonal" and seasonal.ready
    assert seasonal.mean == pytest.approx(152 / 3)


# --- negative_spike -----------------------------------------------------------------------------
def negative_state(windows: int = 200) -> tuple[Ewma, Ewma]:
    return learned(steady(windows, 5, seed=2)), learned(steady(windows, 25, seed=3))


def evaluate_negative(
    negative: int, total: int, rule: NegativeSpike | None = None, *, windows: int = 200, active: bool = False
) -> Decision:
    neg, tot = negative_state(windows)
    return (rule or NegativeSpike()).evaluate(
        negative=negative,
        total=total,
        negative_baseline=neg.baseline(WARMUP),
        total_baseline=tot.baseline(WARMUP),
        window_minutes=WINDOW,
        active=active,
    )


def test_negative_spike_fires_on_a_real_spike_and_says_so_in_words() -> None:
    decision = evaluate_negative(48, 77)
    assert decision.fired
    assert decision.ratio is not None and decision.ratio > 5
    assert decision.z > 10
    assert decision.share_negative == pytest.approx(48 / 77)
    assert decision.describe("billing").startswith("negative posts about billing: 48 in 10 min, usually 5.1 ± ")


def test_the_change_in_words_in_english_and_italian() -> None:
    usual_negative = Baseline(mean=5, std=2, source="seasonal", ready=True)
    usual_total = Baseline(mean=25, std=5, source="seasonal", ready=True)
    decision = NegativeSpike().evaluate(
        negative=48, total=80, negative_baseline=usual_negative, total_baseline=usual_total, window_minutes=10
    )
    assert decision.fired and decision.severity == "critical"
    assert decision.describe("billing", "topic", "en") == (
        "negative posts about billing: 48 in 10 min, usually 5 ± 2, 9.6×, 60% negative (usually 20%)"
    )
    assert decision.describe("billing", "topic", "it") == (
        "post negativi su billing: 48 in 10 min, di solito 5 ± 2, 9,6×, 60% negativi (di solito 20%)"
    )
    assert decision.describe("#sciopero", "term", "it").startswith("post negativi che citano #sciopero: 48 ")
    assert decision.describe("", "all").startswith("negative posts: 48 in 10 min")


def test_negative_spike_does_not_page_for_low_volume_noise_under_the_minimum() -> None:
    # 2 → 6 negative posts at night is three times usual, and still not worth waking anyone.
    neg, tot = learned([2] * 100), learned([4] * 100)
    decision = NegativeSpike(threshold_cur=10).evaluate(
        negative=6, total=8, negative_baseline=neg.baseline(WARMUP), total_baseline=tot.baseline(WARMUP),
        window_minutes=WINDOW,
    )  # fmt: skip
    assert decision.action == "none" and "threshold_cur" in decision.reason


def test_negative_spike_does_not_fire_on_ordinary_windows() -> None:
    neg, tot = negative_state()
    fired = [
        NegativeSpike().evaluate(
            negative=n, total=t, negative_baseline=neg.baseline(WARMUP), total_baseline=tot.baseline(WARMUP),
            window_minutes=WINDOW,
        ).fired
        for n, t in zip(steady(300, 5, seed=9), steady(300, 25, seed=10), strict=True)
    ]  # fmt: skip
    assert not any(fired)


def test_negative_spike_cannot_fire_during_warm_up() -> None:
    decision = evaluate_negative(48, 77, windows=WARMUP - 1)
    assert decision.action == "none" and decision.reason == "warming up"


def test_negative_spike_resolves_when_back_to_baseline() -> None:
    assert evaluate_negative(40, 70, active=True).action == "none"
    assert evaluate_negative(6, 26, active=True).action == "resolve"


def test_negative_share_fires_when_the_share_jumps_at_steady_volume() -> None:
    # Same 25 posts as usual, but 15 of them negative instead of 5: count ×3 by share, z ≈ 4.
    by_share = NegativeSpike(measure="share", share_rise=0.2, threshold_cur=10)
    decision = evaluate_negative(15, 25, rule=by_share)
    assert decision.fired and decision.metric == "negative_share"
    assert decision.share_baseline == pytest.approx(0.2, abs=0.05)
    assert not evaluate_negative(7, 25, rule=by_share).fired
    assert evaluate_negative(6, 25, rule=by_share, active=True).action == "resolve"


def test_negative_spike_min_share_is_a_floor_on_the_share_whatever_it_measures() -> None:
    assert evaluate_negative(48, 77, NegativeSpike(min_share=0.4)).fired
    decision = evaluate_negative(48, 200, NegativeSpike(min_share=0.4))
    assert not decision.fired and decision.reason == "share below min_share (40%)"


def test_a_spike_rule_needs_a_sensitivity() -> None:
    with pytest.raises(ValueError, match="spike_height"):
        NegativeSpike(spike_height=None, z_score=None)


# --- volume_spike -------------------------------------------------------------------------------
def test_volume_spike_up_fires_and_resolves() -> None:
    base = learned(steady(200, 40)).baseline(WARMUP)
    up = VolumeSpike(direction="up")
    assert up.evaluate(count=160, baseline=base, window_minutes=WINDOW).fired
    assert not up.evaluate(count=46, baseline=base, window_minutes=WINDOW).fired
    assert not up.evaluate(count=5, baseline=base, window_minutes=WINDOW).fired  # a drop is not "up"
    assert up.evaluate(count=150, baseline=base, window_minutes=WINDOW, active=True).action == "none"
    assert up.evaluate(count=42, baseline=base, window_minutes=WINDOW, active=True).action == "resolve"


def test_volume_spike_down_fires_on_a_drop_of_a_busy_key_only() -> None:
    down = VolumeSpike(direction="down", threshold_ref=20)
    busy = learned(steady(200, 40)).baseline(WARMUP)
    quiet = learned(steady(200, 3)).baseline(WARMUP)
    decision = down.evaluate(count=4, baseline=busy, window_minutes=WINDOW)
    assert decision.fired
    assert decision.describe("rss", "source").startswith("posts from rss: 4 in 10 min, usually ")
    assert not down.evaluate(count=160, baseline=busy, window_minutes=WINDOW).fired
    assert not down.evaluate(count=0, baseline=quiet, window_minutes=WINDOW).fired
    assert VolumeSpike(direction="both").evaluate(count=160, baseline=busy, window_minutes=WINDOW).fired


def test_volume_spike_ignores_low_volume_noise_and_warm_up() -> None:
    rule = VolumeSpike(threshold_cur=10)
    assert not rule.evaluate(count=6, baseline=learned([1] * 50).baseline(WARMUP), window_minutes=WINDOW).fired
    early = learned([40] * (WARMUP - 1)).baseline(WARMUP)
    assert rule.evaluate(count=400, baseline=early, window_minutes=WINDOW).reason == "warming up"


def test_the_seasonal_baseline_makes_a_daily_peak_normal_and_the_same_count_at_night_a_spike() -> None:
    # Five days of 10-minute windows: ~5 posts a window, ~50 between 9:00 and 10:00.
    start = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp())
    ewma, history = Ewma.with_half_life(36), SeasonalHistory(period=DAY, seasons=7)
    rng = random.Random(4)
    for i in range(5 * DAY // (WINDOW * 60)):
        window_start = start + i * WINDOW * 60
        peak = datetime.fromtimestamp(window_start, UTC).hour == 9
        count = max(0, round(rng.gauss(50 if peak else 5, 3 if peak else 2)))
        ewma, history = ewma.update(count), history.record(window_start, count)
    rule = VolumeSpike(direction="up")
    nine = start + 5 * DAY + 9 * 3600
    three = start + 5 * DAY + 3 * 3600
    at_nine = baseline_for(nine, ewma, history, warmup=WARMUP)
    at_three = baseline_for(three, ewma, history, warmup=WARMUP)
    assert at_nine.source == at_three.source == "seasonal"
    assert not rule.evaluate(count=50, baseline=at_nine, window_minutes=WINDOW).fired
    assert rule.evaluate(count=50, baseline=at_three, window_minutes=WINDOW).fired
    # Without the calendar, the EWMA alone would have paged at 9:00 every day.
    assert rule.evaluate(count=50, baseline=ewma.baseline(WARMUP), window_minutes=WINDOW).fired


# --- flatline -----------------------------------------------------------------------------------
def test_flatline_fires_when_a_talking_source_goes_silent_and_resolves_when_it_talks() -> None:
    rule = Flatline(minutes=30, max_posts=0, min_expected=5)
    talking = learned(steady(100, 12)).baseline(WARMUP)
    decision = rule.evaluate(recent=0, baseline=talking, window_minutes=WINDOW)
    assert decision.fired
    assert decision.baseline.mean == pytest.approx(talking.mean * 3)
    assert decision.describe("rss", "source").startswith("posts from rss: 0 in 30 min, usually 3")
    assert not rule.evaluate(recent=7, baseline=talking, window_minutes=WINDOW).fired
    assert rule.evaluate(recent=0, baseline=talking, window_minutes=WINDOW, active=True).action == "none"
    assert rule.evaluate(recent=2, baseline=talking, window_minutes=WINDOW, active=True).action == "resolve"


def test_flatline_ignores_sources_that_are_usually_quiet_and_warm_up() -> None:
    rule = Flatline(minutes=30, min_expected=5)
    assert not rule.evaluate(recent=0, baseline=learned([1] * 100).baseline(WARMUP), window_minutes=WINDOW).fired
    early = learned([12] * 3).baseline(WARMUP)
    assert rule.evaluate(recent=0, baseline=early, window_minutes=WINDOW).reason == "warming up"


# --- new_term -----------------------------------------------------------------------------------
def test_new_term_fires_once_for_a_burst_of_a_term_not_seen_in_the_lookback() -> None:
    rule = NewTerm(threshold_cur=10, lookback_days=7, new_for_minutes=120)
    first = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    end = first + timedelta(minutes=20)
    decision = rule.evaluate(count=25, first_seen=first, previously_seen=None, window_end=end, window_minutes=WINDOW)
    assert decision.fired
    assert decision.describe("#blackout") == "new term #blackout: 25 in 10 min, never seen before"
    assert decision.describe("#blackout", language="it") == "nuovo termine #blackout: 25 in 10 min, mai visto prima"
    # Once fired the alert is active: no second alert while the term is new, resolved afterwards.
    assert (
        rule.evaluate(
            count=40, first_seen=first, previously_seen=None, window_end=end, window_minutes=WINDOW, active=True
        ).action
        == "none"
    )
    later = first + timedelta(hours=3)
    assert (
        rule.evaluate(
            count=40, first_seen=first, previously_seen=None, window_end=later, window_minutes=WINDOW, active=True
        ).action
        == "resolve"
    )


def test_new_term_ignores_few_posts_recent_terms_and_old_appearances() -> None:
    rule = NewTerm(threshold_cur=10, lookback_days=7, new_for_minutes=120)
    first = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    end = first + timedelta(minutes=10)
    assert not rule.evaluate(
        count=4, first_seen=first, previously_seen=None, window_end=end, window_minutes=WINDOW
    ).fired
    seen_lately = first - timedelta(days=2)
    assert not rule.evaluate(
        count=40, first_seen=first, previously_seen=seen_lately, window_end=end, window_minutes=WINDOW
    ).fired
    seen_long_ago = first - timedelta(days=30)
    back = rule.evaluate(
        count=40, first_seen=first, previously_seen=seen_long_ago, window_end=end, window_minutes=WINDOW
    )
    assert back.fired and back.describe("#sciopero").endswith("not seen for 30 days")
    stale = first + timedelta(hours=5)
    assert not rule.evaluate(
        count=40, first_seen=first, previously_seen=None, window_end=stale, window_minutes=WINDOW
    ).fired


def test_baseline_scaling_sums_independent_windows() -> None:
    base = Baseline(mean=10, std=2, source="ewma", ready=True).scaled(4)
    assert (base.mean, base.std) == (40, 4)
