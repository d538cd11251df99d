"""The Elasticsearch requests behind the console (docs/console.md), and the shaping of their answers.

Pure functions and small request types, no I/O: ``web.console`` runs them. The filters and the
query language are those of ``ascolto search`` (:mod:`elastic.filters`, :mod:`elastic.query_limits`),
the overview builds on :class:`elastic.stats.StatsRequest`, so the page's counts are the API's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from elastic.filters import PostFilters, integer_param, listed_param
from elastic.query_limits import check_query, query_string
from elastic.search import MAX_QUERY_TERMS, TEXT_FIELDS
from elastic.stats import StatsRequest

#: Parameters narrowing the posts, shared by the overview and the live feed.
FILTER_PARAMS = frozenset({"q", "lang", "sentiment", "topic", "term", "source"})
OVERVIEW_PARAMS = FILTER_PARAMS | {"range"}
#: Range → (its length, histogram interval): about 60, 96 and 168 buckets.
RANGES: dict[str, tuple[timedelta, str]] = {
    "1h": (timedelta(hours=1), "1m"),
    "24h": (timedelta(hours=24), "15m"),
    "7d": (timedelta(days=7), "1h"),
}
DEFAULT_RANGE = "24h"
#: Topics and watch terms the overview gives a series of their own.
TOP_KEYS = 10
#: Posts the live feed starts with.
BACKLOG = 20
#: Characters of a post's text in a feed summary.
SUMMARY_TEXT_CHARS = 500
#: Sort of the live feed: the order posts were indexed in, ties broken by id (a total order).
FEED_SORT = [{"indexed_at": "asc"}, {"id": "asc"}]
NEGATIVE = {"term": {"sentiment.label": "negative"}}


def iso_ms(moment: datetime) -> str:
    """``2026-11-30T00:10:02.123Z``: UTC, milliseconds (Elasticsearch's date resolution)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch, in integers (a float product can land one millisecond short)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


@dataclass(frozen=True)
class ConsoleFilters:
    """``q`` plus the list filters; validated on construction by :meth:`from_params`."""

    query: str = ""
    filters: PostFilters = field(default_factory=PostFilters)
    max_terms: int = MAX_QUERY_TERMS

    @classmethod
    def from_params(cls, params: Mapping[str, Any], max_terms: int = MAX_QUERY_TERMS) -> ConsoleFilters:
        """Raises ValueError (a sentence) for a bad value; unknown parameters are the caller's to refuse."""
        filters = PostFilters(
            lang=listed_param(params, "lang"),
            sentiment=listed_param(params, "sentiment"),
            topic=listed_param(params, "topic"),
            source=listed_param(params, "source"),
            term=listed_param(params, "term"),
        )
        made = cls(str(params.get("q") or ""), filters, max_terms)
        made.query_clause([])  # validate now, so callers can answer 400
        return made

    def query_clause(self, extra_filters: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """The bool query: ``q`` (when given) as must, the filters plus ``extra_filters`` as filter."""
        check_query(self.query, self.max_terms)
        must = [query_string(self.query, TEXT_FIELDS)] if self.query.strip() else [{"match_all": {}}]
        return {"bool": {"must": must, "filter": [*self.filters.clauses(), *extra_filters]}}


# --- overview --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class OverviewRequest:
    """Volume and sentiment over one of :data:`RANGES` ending now."""

    range: str
    filters: ConsoleFilters
    until: datetime

    @classmethod
    def from_params(
        cls, params: Mapping[str, Any], now: datetime | None = None, max_terms: int = MAX_QUERY_TERMS
    ) -> OverviewRequest:
        name = str(params.get("range") or DEFAULT_RANGE)
        if name not in RANGES:
            raise ValueError(f"range must be one of {', '.join(RANGES)}, not {name!r}")
        request = cls(name, ConsoleFilters.from_params(params, max_terms), now or datetime.now(UTC))
        request.body()
        return request

    @property
    def interval(self) -> str:
        return RANGES[self.range][1]

    @property
    def since(self) -> datetime:
        return self.until - RANGES[self.range][0]

    def stats(self) -> StatsRequest:
        window = replace(self.filters.filters, since=iso_ms(self.since), until=iso_ms(self.until))
        return StatsRequest(filters=window, interval=self.interval, top=TOP_KEYS)

    def body(self) -> dict[str, Any]:
        """Statistics' aggregations, with ``q``, every bucket of the window, and a series per top topic and term."""
        body = self.stats().body()
        body["query"] = self.filters.query_clause(body["query"]["bool"]["filter"])
        aggs = body["aggs"]
        # Every bucket of the window, even before the first post and after the last.
        bounds = {"min": epoch_ms(self.since), "max": epoch_ms(self.until) - 1}
        aggs["over_time"]["date_histogram"]["extended_bounds"] = bounds
        series = {
            "date_histogram": {
                "field": "created_at", "fixed_interval": self.interval, "min_doc_count": 0, "extended_bounds": bounds,
            },
            "aggs": {"negative": {"filter": NEGATIVE}},
        }  # fmt: skip
        aggs["topics"]["aggs"]["over_time"] = series
        aggs["terms"] = {
            "terms": {"field": "entities.watch_terms", "size": TOP_KEYS},
            "aggs": {"negative": {"filter": NEGATIVE}, "over_time": series},
        }
        return body


def _keyed_series(agg: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "key": bucket["key"],
            "count": bucket["doc_count"],
            "negative": bucket["negative"]["doc_count"],
            "buckets": [
                {"t": b["key_as_string"], "count": b["doc_count"], "negative": b["negative"]["doc_count"]}
                for b in bucket.get("over_time", {}).get("buckets", [])
            ],
        }
        for bucket in agg.get("buckets", [])
    ]


def parse_overview(resp: Mapping[str, Any], request: OverviewRequest) -> dict[str, Any]:
    """The JSON of ``/api/overview`` from Elasticsearch's answer (an empty answer: no index yet)."""
    aggs = resp.get("aggregations", {})
    buckets = []
    for bucket in aggs.get("over_time", {}).get("buckets", []):
        labels = {b["key"]: b["doc_count"] for b in bucket["labels"]["buckets"]}
        buckets.append(
            {"t": bucket["key_as_string"], **{k: labels.get(k, 0) for k in ("positive", "neutral", "negative")}}
        )

    def counts(name: str) -> list[dict[str, Any]]:
        return [{"key": b["key"], "count": b["doc_count"]} for b in aggs.get(name, {}).get("buckets", [])]

    return {
        "range": request.range,
        "interval": request.interval,
        "since": iso_ms(request.since),
        "until": iso_ms(request.until),
        "total": resp.get("hits", {}).get("total", {}).get("value", 0),
        "buckets": buckets,
        "topics": _keyed_series(aggs.get("topics", {})),
        "terms": _keyed_series(aggs.get("terms", {})),
        "languages": counts("languages"),
        "sources": counts("sources"),
    }


# --- live feed -------------------------------------------------------------------------------------
#: Where a feed stands: the (indexed_at in epoch ms, id) of the last post sent.
Cursor = tuple[int, str]


def event_id(post: Mapping[str, Any]) -> str:
    """``<indexed_at>|<post id>``: what the browser sends back as Last-Event-ID."""
    return f"{post.get('indexed_at', '')}|{post.get('id', '')}"


def parse_event_id(value: str) -> Cursor:
    """The cursor a Last-Event-ID stands for; ValueError when it is not one this feed sent."""
    stamp, sep, post_id = value.strip().partition("|")
    if not sep or not post_id:
        raise ValueError(f"Last-Event-ID {value[:80]!r} is not <indexed_at>|<post id>")
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        raise ValueError(f"Last-Event-ID {value[:80]!r} does not start with an ISO time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return epoch_ms(moment), post_id


def backlog_body(filters: ConsoleFilters, upper_ms: int, size: int = BACKLOG) -> dict[str, Any]:
    """The newest ``size`` matching posts indexed at or before ``upper_ms`` (newest first: reverse them)."""
    settled = {"range": {"indexed_at": {"lte": upper_ms, "format": "epoch_millis"}}}
    return {
        "query": filters.query_clause([settled]),
        "sort": [{"indexed_at": "desc"}, {"id": "desc"}],
        "size": size,
        "track_total_hits": False,
    }


def after_body(
    filters: ConsoleFilters, cursor: Cursor | None, floor_ms: int, upper_ms: int, size: int
) -> dict[str, Any]:
    """Matching posts after ``cursor`` (or indexed after ``floor_ms`` when none was sent yet), up to ``upper_ms``."""
    window: dict[str, Any] = {"lte": upper_ms, "format": "epoch_millis"}
    if cursor is None:
        window["gt"] = floor_ms
    body: dict[str, Any] = {
        "query": filters.query_clause([{"range": {"indexed_at": window}}]),
        "sort": FEED_SORT,
        "size": size,
        "track_total_hits": False,
    }
    if cursor is not None:
        body["search_after"] = list(cursor)
    return body


def summary(post: Mapping[str, Any]) -> dict[str, Any]:
    """What the feed sends of a post."""
    author = post.get("author") or {}
    sentiment = post.get("sentiment") or {}
    return {
        "id": post.get("id"),
        "created_at": post.get("created_at"),
        "indexed_at": post.get("indexed_at"),
        "source": post.get("source"),
        "handle": author.get("handle"),
        "author_name": author.get("name"),
        "text": str(post.get("text") or "")[:SUMMARY_TEXT_CHARS],
        "url": post.get("url"),
        "lang": post.get("lang"),
        "sentiment": {k: sentiment.get(k) for k in ("label", "compound", "model")},
        "topics": list(post.get("topics") or []),
    }


# --- alerts ----------------------------------------------------------------------------------------
#: Most alerts of each kind one request returns (Elasticsearch's top_hits limit).
MAX_ALERTS = 100
_FIRING = {
    "bool": {
        # Alerts of the first producers carry no status: they were firing.
        "should": [{"term": {"status": "firing"}}, {"bool": {"must_not": {"exists": {"field": "status"}}}}],
        "minimum_should_match": 1,
    }
}


@dataclass(frozen=True)
class AlertsRequest:
    """The newest ``limit`` firing alerts and the newest ``limit`` resolved ones, in one request."""

    limit: int = 50

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AlertsRequest:
        return cls(integer_param(params, "limit", 50, 1, MAX_ALERTS))

    def body(self) -> dict[str, Any]:
        newest = {"top_hits": {"size": self.limit, "sort": [{"created_at": "desc"}, {"id": "asc"}]}}
        return {
            "size": 0,
            "track_total_hits": False,
            "ignore_unavailable": True,
            "allow_no_indices": True,
            "aggs": {
                "active": {"filter": _FIRING, "aggs": {"newest": newest}},
                "recent": {"filter": {"term": {"status": "resolved"}}, "aggs": {"newest": newest}},
            },
        }


def parse_alerts(resp: Mapping[str, Any], enabled: bool) -> dict[str, Any]:
    """``/api/alerts``: each alert with the ``posts_query`` that lists the posts behind it."""
    aggs = resp.get("aggregations", {})

    def alerts(name: str) -> list[dict[str, Any]]:
        hits = aggs.get(name, {}).get("newest", {}).get("hits", {}).get("hits", [])
        return [{**hit["_source"], "posts_query": posts_query(hit["_source"])} for hit in hits]

    return {"enabled": enabled, "active": alerts("active"), "recent": alerts("recent")}


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def posts_query(alert: Mapping[str, Any]) -> dict[str, str]:
    """The ``/api/search`` parameters listing the posts behind ``alert``: its key, window and, for a
    negative spike, the negative ones."""
    query: dict[str, str] = {}
    key = str(alert.get("key", ""))
    kind = alert.get("key_kind")
    if kind in ("topic", "source"):
        query[str(kind)] = key
    elif kind == "watch_term":
        query["term"] = key
    elif kind == "hashtag":
        query["q"] = f"entities.hashtags:{_quoted(key)}"
    if alert.get("kind") == "negative_spike":
        query["sentiment"] = "negative"
    for name, field_name in (("since", "window_start"), ("until", "window_end")):
        if alert.get(field_name):
            query[name] = str(alert[field_name])
    return query


# --- health ----------------------------------------------------------------------------------------
def recent_body(field: str, since_ms: int) -> dict[str, Any]:
    """A count of posts whose ``field`` (``enriched_at``, ``indexed_at``) is at or after ``since_ms``."""
    return {"query": {"range": {field: {"gte": since_ms, "format": "epoch_millis"}}}}


# --- one post --------------------------------------------------------------------------------------
#: Longest post id accepted (the contract's id is shorter).
MAX_POST_ID = 1024


@dataclass(frozen=True)
class PostLookup:
    """One post by id, across the backing indices behind the posts alias."""

    post_id: str

    @classmethod
    def of(cls, post_id: str) -> PostLookup:
        if not post_id or len(post_id) > MAX_POST_ID:
            raise ValueError(f"a post id is 1 to {MAX_POST_ID} characters long")
        return cls(post_id)

    def body(self) -> dict[str, Any]:
        return {"query": {"ids": {"values": [self.post_id]}}, "size": 1, "track_total_hits": False}
