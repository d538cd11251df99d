"""The four rule kinds as pure evaluators: does this window fire, resolve, or do nothing?

Each rule kind is a small frozen parameter set whose ``evaluate`` takes the window's counts, the
key's :class:`~streams.alerting.baselines.Baseline` and whether an alert is already active for
this rule and key, and returns a :class:`Decision` holding the numbers a reader needs (current,
usual mean ± std, ratio, z-score, share negative) and why it did not fire when it did not.

The parameter names follow ElastAlert's spike rule where they mean the same thing:

* ``threshold_cur`` — the fewest posts the current window must hold to fire, so that 2 → 6
  posts at night pages no one;
* ``threshold_ref`` — the fewest posts the baseline must expect for a comparison to count;
* ``spike_height`` — the ratio current / usual that counts as a spike (3 = three times usual);
* ``z_score`` — how many standard deviations above (or below) usual counts as a spike.

At least one sensitivity must be set (None switches one off); when both are, both must hold,
which is the default (3× and 3σ): on small counts either alone pages for ordinary noise. The std
used for the z-score is never below √mean (counts are at least as noisy as a Poisson process),
so that a very regular baseline does not make every extra post a spike.

An active alert resolves when the key is back to its baseline: within ``resolve_z`` standard
deviations of the mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from streams.alerting.baselines import Baseline

Action = Literal["fire", "resolve", "none"]
KeyKind = Literal["topic", "term", "source", "all"]
Language = Literal["en", "it"]
Direction = Literal["up", "down", "both"]
Severity = Literal["info", "warning", "critical"]


@dataclass(frozen=True)
class Decision:
    """What a rule decided for one key and window, with the numbers behind it.

    ``metric`` is what was measured (negative_count, negative_share, volume, silence, new_term);
    ``current`` and ``baseline`` are counts over ``minutes``; ``ratio`` is None when the
    baseline expects (nearly) nothing; ``reason`` says in a few words why the rule did not fire.
    """

    action: Action
    kind: str
    metric: str
    current: float
    baseline: Baseline
    minutes: float
    ratio: float | None = None
    z: float = 0.0
    share_negative: float | None = None
    share_baseline: float | None = None
    severity: Severity = "warning"
    reason: str = ""
    quiet_days: float | None = None

    @property
    def fired(self) -> bool:
        return self.action == "fire"

    def describe(self, key: str, key_kind: KeyKind = "topic", language: Language = "en") -> str:
        """The change in words, e.g. "negative posts about billing: 48 in 10 min, usually 5 ± 2, 9.6×"."""
        return describe(self, key, key_kind, language)


def _noise(baseline: Baseline) -> float:
    return max(baseline.std, math.sqrt(max(baseline.mean, 1.0)))


#: Below this usual count a ratio says nothing ("376015×" of nearly nothing): it is left out, and the
#: z-score and threshold_cur decide alone.
MIN_RATIO_BASE = 0.5


def _ratio(current: float, mean: float) -> float | None:
    return current / mean if mean >= MIN_RATIO_BASE else None


def _z(current: float, baseline: Baseline) -> float:
    return (current - baseline.mean) / _noise(baseline)


def _check_sensitivity(spike_height: float | None, z_score: float | None) -> None:
    if spike_height is None and z_score is None:
        raise ValueError("a spike rule needs spike_height, z_score or both")
    if spike_height is not None and spike_height <= 1:
        raise ValueError(f"spike_height must be above 1, got {spike_height}")
    if z_score is not None and z_score <= 0:
        raise ValueError(f"z_score must be positive, got {z_score}")


def _rises(current: float, baseline: Baseline, spike_height: float | None, z_score: float | None) -> bool:
    ratio = _ratio(current, baseline.mean)
    by_ratio = spike_height is None or ratio is None or ratio >= spike_height
    return by_ratio and (z_score is None or _z(current, baseline) >= z_score)


def _falls(current: float, baseline: Baseline, spike_height: float | None, z_score: float | None) -> bool:
    ratio = _ratio(current, baseline.mean)
    by_ratio = spike_height is None or (ratio is not None and ratio <= 1 / spike_height)
    return by_ratio and (z_score is None or _z(current, baseline) <= -z_score)


def _severity(current: float, baseline: Baseline, spike_height: float | None, z_score: float | None) -> Severity:
    """Critical when the change is twice what the rule asks for, on every sensitivity it sets."""
    ratio = _ratio(current, baseline.mean)
    z = abs(_z(current, baseline))
    change = None if ratio is None else max(ratio, 1 / ratio if ratio else math.inf)
    far_ratio = spike_height is None or change is None or change >= 2 * spike_height
    far_z = z_score is None or z >= 2 * z_score
    return "critical" if far_ratio and far_z else "warning"


@dataclass(frozen=True)
class NegativeSpike:
    """Negative talk about a key well above what is usual for it.

    ``measure`` picks what must rise: ``count`` (negative posts vs their baseline, by ``spike_height``
    and/or ``z_score``), ``share`` (the negative share at least ``share_rise`` above its usual
    share, e.g. 0.2 = twenty points), ``either`` or ``both``. ``threshold_cur`` applies to the
    negative posts of the window, ``threshold_ref`` to the negative posts the baseline expects.
    ``min_share`` (0-1, None for none) is a floor on the window's negative share, whatever ``measure``
    says: "and at least 40% of its posts negative".
    """

    threshold_cur: int = 10
    threshold_ref: float = 0.0
    spike_height: float | None = 3.0
    z_score: float | None = 3.0
    # Not ``on``: YAML 1.1 reads a key ``on`` as the boolean true.
    measure: Literal["count", "share", "either", "both"] = "count"
    share_rise: float = 0.2
    resolve_z: float = 1.0
    min_share: float | None = None

    def __post_init__(self) -> None:
        _check_sensitivity(self.spike_height, self.z_score)

    def evaluate(
        self,
        *,
        negative: int,
        total: int,
        negative_baseline: Baseline,
        total_baseline: Baseline,
        window_minutes: float,
        active: bool = False,
    ) -> Decision:
        """Decide on a window holding ``total`` posts of which ``negative`` are negative."""
        share = negative / total if total else None
        usual_share = negative_baseline.mean / total_baseline.mean if total_baseline.mean > 0 else None
        count_up = _rises(negative, negative_baseline, self.spike_height, self.z_score)
        share_up = share is not None and share >= (usual_share or 0.0) + self.share_rise
        rising = {"count": count_up, "share": share_up, "either": count_up or share_up, "both": count_up and share_up}[
            self.measure
        ]

        def decision(action: Action, reason: str = "") -> Decision:
            by_share = self.measure == "share" or (self.measure == "either" and share_up and not count_up)
            return Decision(
                action=action,
                kind="negative_spike",
                metric="negative_share" if by_share else "negative_count",
                current=negative,
                baseline=negative_baseline,
                minutes=window_minutes,
                ratio=_ratio(negative, negative_baseline.mean),
                z=_z(negative, negative_baseline),
                share_negative=share,
                share_baseline=usual_share,
                severity=_severity(negative, negative_baseline, self.spike_height, self.z_score),
                reason=reason,
            )

        if active:
            # Back on every measure the rule watches; the share's margin halves, as resolve_z does the count's.
            count_back = negative <= negative_baseline.mean + self.resolve_z * _noise(negative_baseline)
            share_back = share is None or share < (usual_share or 0.0) + self.share_rise / 2
            back = {"count": count_back, "share": share_back}.get(self.measure, count_back and share_back)
            return decision("resolve") if back else decision("none", "still above baseline")
        if not (negative_baseline.ready and total_baseline.ready):
            return decision("none", "warming up")
        if negative < self.threshold_cur:
            return decision("none", f"below threshold_cur ({self.threshold_cur})")
        if negative_baseline.mean < self.threshold_ref:
            return decision("none", f"baseline below threshold_ref ({self.threshold_ref:g})")
        if self.min_share is not None and (share is None or share < self.min_share):
            return decision("none", f"share below min_share ({_pct(self.min_share)})")
        return decision("fire") if rising else decision("none", "within baseline")


@dataclass(frozen=True)
class VolumeSpike:
    """All posts about a key far above (``up``), below (``down``) or either side of (``both``) usual.

    ``threshold_cur`` and ``threshold_ref`` apply to the window's posts and the baseline's, in
    either direction (a key that usually has 2 posts going to 0 is not news).
    """

    direction: Direction = "up"
    threshold_cur: int = 10
    threshold_ref: float = 0.0
    spike_height: float | None = 3.0
    z_score: float | None = 3.0
    resolve_z: float = 1.0

    def __post_init__(self) -> None:
        _check_sensitivity(self.spike_height, self.z_score)

    def evaluate(self, *, count: int, baseline: Baseline, window_minutes: float, active: bool = False) -> Decision:
        """Decide on a window holding ``count`` posts."""

        def decision(action: Action, reason: str = "") -> Decision:
            return Decision(
                action=action,
                kind="volume_spike",
                metric="volume",
                current=count,
                baseline=baseline,
                minutes=window_minutes,
                ratio=_ratio(count, baseline.mean),
                z=_z(count, baseline),
                severity=_severity(count, baseline, self.spike_height, self.z_score),
                reason=reason,
            )

        if active:
            back = abs(count - baseline.mean) <= self.resolve_z * _noise(baseline)
            return decision("resolve") if back else decision("none", "still away from baseline")
        if not baseline.ready:
            return decision("none", "warming up")
        up = self.direction in ("up", "both") and _rises(count, baseline, self.spike_height, self.z_score)
        down = self.direction in ("down", "both") and _falls(count, baseline, self.spike_height, self.z_score)
        # A drop is measured by what was expected, so threshold_cur guards only rises.
        if up and count < self.threshold_cur:
            return decision("none", f"below threshold_cur ({self.threshold_cur})")
        if (up or down) and baseline.mean < self.threshold_ref:
            return decision("none", f"baseline below threshold_ref ({self.threshold_ref:g})")
        return decision("fire") if up or down else decision("none", "within baseline")


@dataclass(frozen=True)
class Flatline:
    """A key or source that normally talks went silent for ``minutes`` minutes.

    Fires when the last ``minutes`` minutes held at most ``max_posts`` posts while the baseline
    expected at least ``min_expected`` over that span; resolves when posts come back.
    """

    minutes: float = 30.0
    max_posts: int = 0
    min_expected: float = 5.0

    def evaluate(self, *, recent: int, baseline: Baseline, window_minutes: float, active: bool = False) -> Decision:
        """Decide given ``recent`` posts in the last ``minutes`` and the per-window ``baseline``."""
        expected = baseline.scaled(self.minutes / window_minutes)

        def decision(action: Action, reason: str = "") -> Decision:
            return Decision(
                action=action,
                kind="flatline",
                metric="silence",
                current=recent,
                baseline=expected,
                minutes=self.minutes,
                ratio=_ratio(recent, expected.mean),
                z=_z(recent, expected),
                severity="warning",
                reason=reason,
            )

        if active:
            return decision("resolve") if recent > self.max_posts else decision("none", "still silent")
        if not baseline.ready:
            return decision("none", "warming up")
        if recent > self.max_posts:
            return decision("none", "talking")
        if expected.mean < self.min_expected:
            return decision("none", f"usually quiet (expects under {self.min_expected:g})")
        return decision("fire")


@dataclass(frozen=True)
class NewTerm:
    """A hashtag or term not seen in the ``lookback_days`` before it appeared, now bursting.

    The detector keeps, per term, when its current appearance began (``first_seen``: the first
    sighting after a silence of at least ``lookback_days``) and the sighting before that
    (``previously_seen``, None if never). The term fires once, in a window holding at least
    ``threshold_cur`` of its posts within ``new_for_minutes`` of ``first_seen``; after that it is
    no longer new and an active alert resolves.
    """

    threshold_cur: int = 10
    lookback_days: float = 7.0
    new_for_minutes: float = 24 * 60.0

    def evaluate(
        self,
        *,
        count: int,
        first_seen: datetime,
        previously_seen: datetime | None,
        window_end: datetime,
        window_minutes: float,
        active: bool = False,
    ) -> Decision:
        """Decide on a window ending at ``window_end`` that holds ``count`` posts with the term."""
        quiet = None if previously_seen is None else (first_seen - previously_seen) / timedelta(days=1)
        still_new = window_end - first_seen <= timedelta(minutes=self.new_for_minutes)
        nothing = Baseline(mean=0.0, std=0.0, source="ewma", ready=True)

        def decision(action: Action, reason: str = "") -> Decision:
            return Decision(
                action=action,
                kind="new_term",
                metric="new_term",
                current=count,
                baseline=nothing,
                minutes=window_minutes,
                z=_z(count, nothing),
                severity="info",
                reason=reason,
                quiet_days=quiet,
            )

        if active:
            return decision("none", "still new") if still_new else decision("resolve")
        if quiet is not None and quiet < self.lookback_days:
            return decision("none", f"seen {quiet:.1f} days before")
        if not still_new:
            return decision("none", "no longer new")
        if count < self.threshold_cur:
            return decision("none", f"below threshold_cur ({self.threshold_cur})")
        return decision("fire")


# --- the change in words -----------------------------------------------------------------------
_WHAT = {
    ("negative_count", "en"): "negative posts",
    ("negative_count", "it"): "post negativi",
    ("negative_share", "en"): "negative posts",
    ("negative_share", "it"): "post negativi",
    ("volume", "en"): "posts",
    ("volume", "it"): "post",
    ("silence", "en"): "posts",
    ("silence", "it"): "post",
}
_ABOUT = {
    ("topic", "en"): "about {}",
    ("topic", "it"): "su {}",
    ("term", "en"): "mentioning {}",
    ("term", "it"): "che citano {}",
    ("source", "en"): "from {}",
    ("source", "it"): "da {}",
    ("all", "en"): "",
    ("all", "it"): "",
}
_WORDS = {
    "en": {"usually": "usually", "in": "in", "new": "new term", "never": "never seen before", "neg": "negative"},
    "it": {"usually": "di solito", "in": "in", "new": "nuovo termine", "never": "mai visto prima", "neg": "negativi"},
}


def _num(value: float, language: Language) -> str:
    """A count for a reader: whole when it nearly is or is large, else one decimal (a comma in Italian)."""
    text = f"{value:.0f}" if abs(value - round(value)) < 0.05 or abs(value) >= 10 else f"{value:.1f}"
    return text.replace(".", ",") if language == "it" else text


def _pct(share: float) -> str:
    return f"{share * 100:.0f}%"


def describe(decision: Decision, key: str, key_kind: KeyKind = "topic", language: Language = "en") -> str:
    """The change in words, in English or Italian (see :meth:`Decision.describe`)."""
    words = _WORDS[language]
    minutes = _num(decision.minutes, language)
    current = _num(decision.current, language)
    if decision.kind == "new_term":
        if decision.quiet_days is None:
            since = words["never"]
        elif language == "it":
            since = f"non visto da {_num(decision.quiet_days, language)} giorni"
        else:
            since = f"not seen for {_num(decision.quiet_days, language)} days"
        return f"{words['new']} {key}: {current} {words['in']} {minutes} min, {since}"
    about = _ABOUT[(key_kind, language)].format(key)
    subject = " ".join(part for part in (_WHAT[(decision.metric, language)], about) if part)
    base = decision.baseline
    text = (
        f"{subject}: {current} {words['in']} {minutes} min, "
        f"{words['usually']} {_num(base.mean, language)} ± {_num(base.std, language)}"
    )
    if decision.ratio is not None:
        text += f", {_num(decision.ratio, language)}×"
    if decision.share_negative is not None and decision.metric.startswith("negative"):
        text += f", {_pct(decision.share_negative)} {words['neg']}"
        if decision.share_baseline is not None:
            text += f" ({words['usually']} {_pct(decision.share_baseline)})"
    return text
