"""Listening statistics in one Elasticsearch request: sentiment over time, topics, languages, sources."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from elastic.filters import PostFilters, integer_param

_INTERVAL = re.compile(r"^(\d+)([mhd])$")
#: Interval chosen for "auto" by the length of the range asked for (in hours).
_AUTO = [(2, "1m"), (24, "15m"), (24 * 7, "1h"), (24 * 90, "1d")]
_UNIT_HOURS = {"m": 1 / 60, "h": 1, "d": 24, "w": 168, "s": 1 / 3600}
MAX_BUCKETS = 2000


def _hours(since: str) -> float | None:
    match = re.match(r"^(\d+)([smhdw])$", since.strip())
    return int(match.group(1)) * _UNIT_HOURS[match.group(2)] if match else None


@dataclass
class StatsRequest:
    """Statistics over the posts matching ``filters`` (default: the last 24 hours)."""

    filters: PostFilters = field(default_factory=lambda: PostFilters(since="24h"))
    interval: str = "auto"
    top: int = 10

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StatsRequest:
        request = cls(
            filters=PostFilters.from_params(params, default_since="24h"),
            interval=str(params.get("interval") or "auto"),
            top=integer_param(params, "top", 10, 1, 100),
        )
        request.body()  # validate now, so callers can answer 400
        return request

    def fixed_interval(self) -> str:
        if self.interval != "auto":
            match = _INTERVAL.match(self.interval)
            if not match:
                raise ValueError(f"interval must be auto or like 5m, 1h, 1d, not {self.interval!r}")
            hours = _hours(self.filters.since or "") if self.filters.since else None
            step = int(match.group(1)) * _UNIT_HOURS[match.group(2)]
            if step <= 0:
                raise ValueError("interval must be positive")
            if hours is not None and hours / step > MAX_BUCKETS:
                raise ValueError(f"interval {self.interval} makes more than {MAX_BUCKETS} buckets; choose a larger one")
            return self.interval
        hours = _hours(self.filters.since or "24h") or 24 * 30
        return next((step for limit, step in _AUTO if hours <= limit), "1d")

    def body(self) -> dict[str, Any]:
        interval = self.fixed_interval()
        negative = {"term": {"sentiment.label": "negative"}}
        return {
            "size": 0,
            "track_total_hits": True,
            "query": {"bool": {"filter": self.filters.clauses()}},
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
