"""What a key usually does in one window: the reference a spike is measured against.

Two baselines over a series of per-window counts (posts about a topic in 10 minutes, say):

* :class:`Ewma` — an exponentially weighted mean and variance. It follows slow drifts and needs
  no calendar, so it is the baseline from the first windows on. It counts the windows it has
  seen, which is the warm-up: a rule cannot fire before ``warmup`` windows.
* :class:`SeasonalHistory` — the counts of the same window in previous seasons (the same time
  of previous days, or of previous weeks). A brand that is always busy at 9:00 is not spiking at
  9:00. It is used once at least ``min_seasons`` earlier seasons are known, else the EWMA is.

Both states are small, immutable and round-trip through plain dicts (``to_dict``/``from_dict``)
because they live in Faust changelog tables; an update returns the new state to store.

The detector should evaluate a window against the baseline *before* feeding that window in, and
is free not to feed the windows of an active spike, so that a long spike does not become normal.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field, replace
from typing import Any, Literal

DAY = 86_400
WEEK = 7 * DAY


@dataclass(frozen=True)
class Baseline:
    """The expected count of a window: ``mean`` ± ``std``, where it came from, and whether rules may use it."""

    mean: float
    std: float
    source: Literal["seasonal", "ewma"]
    ready: bool

    def scaled(self, factor: float) -> Baseline:
        """The baseline of ``factor`` windows summed (independent windows: the std grows by √factor)."""
        return replace(self, mean=self.mean * factor, std=self.std * math.sqrt(factor))


@dataclass(frozen=True)
class Ewma:
    """Exponentially weighted mean and variance of a count series.

    ``alpha`` is the weight of the newest window (see :meth:`with_half_life`); ``seen`` is how
    many windows went in, which is what the warm-up counts.
    """

    alpha: float
    mean: float = 0.0
    var: float = 0.0
    seen: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {self.alpha}")

    @classmethod
    def with_half_life(cls, windows: float) -> Ewma:
        """An empty EWMA in which a window's weight halves after ``windows`` newer windows."""
        if windows <= 0:
            raise ValueError(f"half life must be positive, got {windows}")
        return cls(alpha=1 - 0.5 ** (1 / windows))

    def update(self, count: float) -> Ewma:
        """The state after one more window holding ``count``."""
        if self.seen == 0:
            return replace(self, mean=float(count), var=0.0, seen=1)
        # The incremental form (Finch, "Incremental calculation of weighted mean and variance").
        diff = count - self.mean
        step = self.alpha * diff
        return replace(self, mean=self.mean + step, var=(1 - self.alpha) * (self.var + diff * step), seen=self.seen + 1)

    def baseline(self, warmup: int) -> Baseline:
        """The baseline now; ``ready`` once at least ``warmup`` windows have been seen."""
        return Baseline(mean=self.mean, std=math.sqrt(self.var), source="ewma", ready=self.seen >= max(warmup, 1))

    def to_dict(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "mean": self.mean, "var": self.var, "seen": self.seen}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Ewma:
        return cls(alpha=float(data["alpha"]), mean=float(data["mean"]), var=float(data["var"]), seen=int(data["seen"]))


@dataclass(frozen=True)
class SeasonalHistory:
    """The counts of past windows by window start (epoch seconds), kept for ``seasons`` seasons.

    ``period`` is the season's length in seconds: :data:`DAY` compares with the same time of
    previous days, :data:`WEEK` with the same time of previous weeks. Window starts must be
    aligned so that a start minus a period is again a window start (any window size dividing the
    period is). Holding 7 daily seasons of 10-minute windows is about a thousand numbers per key.
    """

    period: int = DAY
    seasons: int = 7
    counts: dict[int, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.period <= 0 or self.seasons <= 0:
            raise ValueError("period and seasons must be positive")

    def record(self, window_start: int, count: float) -> SeasonalHistory:
        """The history with this window's count added and what is older than ``seasons`` seasons dropped."""
        oldest = window_start - self.seasons * self.period
        kept = {start: c for start, c in self.counts.items() if start >= oldest}
        kept[window_start] = float(count)
        return replace(self, counts=kept)

    def baseline(self, window_start: int, min_seasons: int = 3) -> Baseline | None:
        """The mean and std of the same window in earlier seasons, or None with fewer than ``min_seasons``."""
        same_slot = [
            self.counts[start]
            for k in range(1, self.seasons + 1)
            if (start := window_start - k * self.period) in self.counts
        ]
        if len(same_slot) < max(min_seasons, 2):
            return None
        mean, std = statistics.fmean(same_slot), statistics.stdev(same_slot)
        return Baseline(mean=mean, std=std, source="seasonal", ready=True)

    def to_dict(self) -> dict[str, Any]:
        # JSON object keys are strings: the window starts travel as such.
        return {"period": self.period, "seasons": self.seasons, "counts": {str(s): c for s, c in self.counts.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeasonalHistory:
        counts = {int(s): float(c) for s, c in data["counts"].items()}
        return cls(period=int(data["period"]), seasons=int(data["seasons"]), counts=counts)


def baseline_for(
    window_start: int,
    ewma: Ewma,
    history: SeasonalHistory | None = None,
    *,
    warmup: int,
    min_seasons: int = 3,
) -> Baseline:
    """The seasonal baseline of this window when enough seasons are known, else the EWMA's."""
    if history is not None:
        seasonal = history.baseline(window_start, min_seasons)
        if seasonal is not None:
            return seasonal
    return ewma.baseline(warmup)
