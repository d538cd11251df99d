"""Listening statistics in one Elasticsearch request: sentiment over time, topics, languages, sources.

The time window is always closed, ``since`` (default 24h) to ``until`` (default now), and the
histogram's interval follows its length, so the number of buckets stays bounded whatever the
documents hold: a post dated in the year 9999 is outside every window that ends now.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from elastic.filters import PostFilters, integer_param, time_of

_INTERVAL = re.compile(r"^(\d+)([mhd])$")
#: Interval chosen for "auto" by the length of the window (in hours), up to 90 days.
_AUTO = [(2, "1m"), (24, "15m"), (24 * 7, "1h"), (24 * 90, "1d")]
#: Intervals (in days) "auto" picks from for longer windows, then whole multiples of a year.
_LONG_STEPS_DAYS = [1, 2, 7, 14, 30, 90, 180, 365]
_UNIT_HOURS = {"m": 1 / 60, "h": 1, "d": 24}
#: Most histogram buckets an explicit interval may make.
MAX_BUCKETS = 2000
#: Most buckets "auto" makes over a long window.
MAX_AUTO_BUCKETS = 400
DEFAULT_SINCE = "24h"


@dataclass
class StatsRequest:
    """Statistics over the posts matching ``filters`` between since (default 24h) and until (default now)."""

    filters: PostFilters = field(default_factory=lambda: PostFilters(since=DEFAULT_SINCE))
    interval: str = "auto"
    top: int = 10

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StatsRequest:
        request = cls(
            filters=PostFilters.from_params(params, default_since=DEFAULT_SINCE),
            interval=str(params.get("interval") or "auto"),
            top=integer_param(params, "top", 10, 1, 100),
        )
        request.body()  # validate now, so callers can answer 400
        return request

    def window(self) -> PostFilters:
        """The filters with both ends of the time window set."""
        return replace(self.filters, since=self.filters.since or DEFAULT_SINCE, until=self.filters.until or "now")

    def window_hours(self) -> float:
        now = datetime.now(UTC)
        since = time_of(self.filters.since or DEFAULT_SINCE, now, "since")
        span = time_of(self.filters.until or "now", now, "until") - since
        return max(span.total_seconds() / 3600, 0.0)

    def fixed_interval(self) -> str:
        hours = self.window_hours()
        if self.interval != "auto":
            match = _INTERVAL.match(self.interval)
            if not match:
                raise ValueError(f"interval must be auto or like 5m, 1h, 1d, not {self.interval!r}")
            step = int(match.group(1)) * _UNIT_HOURS[match.group(2)]
            if step <= 0:
                raise ValueError("interval must be positive")
            if hours / step > MAX_BUCKETS:
                raise ValueError(f"interval {self.interval} makes more than {MAX_BUCKETS} buckets; choose a larger one")
            return self.interval
        short = next((step for limit, step in _AUTO if hours <= limit), None)
        if short:
            return short
        days = hours / 24 / MAX_AUTO_BUCKETS
        long = next((step for step in _LONG_STEPS_DAYS if step >= days), 365 * math.ceil(days / 365))
        return f"{long}d"

    def body(self) -> dict[str, Any]:
        interval = self.fixed_interval()
        negative = {"term": {"sentiment.label": "negative"}}
        return {
            "size": 0,
            "track_total_hits": True,
            "query": {"bool": {"filter": self.window().clauses()}},
            "aggs": {
                "over_time": {
                    "date_histogram": {"field": "created_at", "fixed_interval": interval, "min_doc_count": 0},
                    "aggs": {
                        "labels": {"terms": {"field": "sentiment.label", "size": 3}},
                        "compound": {"avg": {"field": "sentiment.compound"}},
                    },
                },
                "topics": {
                    "terms": {"field": "topics", "size": self.top},
                    "aggs": {"negative": {"filter": negative}},
                },
                "negative_topics": {
                    "filter": negative,
                    "aggs": {"topics": {"terms": {"field": "topics", "size": self.top}}},
                },
                "languages": {"terms": {"field": "lang", "size": 20}},
                "sources": {"terms": {"field": "source", "size": 20}},
                "labels": {"terms": {"field": "sentiment.label", "size": 3}},
            },
        }


def parse_stats(resp: Mapping[str, Any], request: StatsRequest) -> dict[str, Any]:
    """The JSON the API answers with, from Elasticsearch's aggregation response."""
    aggs = resp.get("aggregations", {})

    def counts(agg: Mapping[str, Any], key: str) -> list[dict[str, Any]]:
        return [{key: b["key"], "count": b["doc_count"]} for b in agg.get("buckets", [])]

    over_time = []
    for bucket in aggs.get("over_time", {}).get("buckets", []):
        labels = {b["key"]: b["doc_count"] for b in bucket["labels"]["buckets"]}
        over_time.append(
            {
                "time": bucket["key_as_string"],
                "count": bucket["doc_count"],
                **{label: labels.get(label, 0) for label in ("positive", "neutral", "negative")},
                "avg_compound": bucket["compound"]["value"],
            }
        )
    topics = [
        {
            "topic": b["key"],
            "count": b["doc_count"],
            "negative": b["negative"]["doc_count"],
            "negative_share": b["negative"]["doc_count"] / b["doc_count"] if b["doc_count"] else 0.0,
        }
        for b in aggs.get("topics", {}).get("buckets", [])
    ]
    return {
        "total": resp["hits"]["total"]["value"],
        "interval": request.fixed_interval(),
        "sentiment": {b["key"]: b["doc_count"] for b in aggs.get("labels", {}).get("buckets", [])},
        "sentiment_over_time": over_time,
        "top_topics": topics,
        "top_negative_topics": counts(aggs.get("negative_topics", {}).get("topics", {}), "topic"),
        "languages": counts(aggs.get("languages", {}), "lang"),
        "sources": counts(aggs.get("sources", {}), "source"),
    }
