"""The alerts index (``ASCOLTO_ES_ALERTS_INDEX``) and the per-window post counts a rule backtest replays.

Writing: :func:`bulk_index_alerts` puts Alert v1 documents under ``_id`` = alert id with an external
version that orders a firing alert (1) before its resolution (2), so the resolution replaces the
firing document whatever order redeliveries come in, and a firing alert read again after its
resolution is refused (409) instead of undoing it: indexing stays idempotent.

Reading, for ``ascolto alerts``: :func:`list_alerts`, :func:`find_alerts` and :func:`window_counts`
(a complete series of posts and negative posts per key and window over the posts index).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from elasticsearch import AsyncElasticsearch, Elasticsearch, NotFoundError

from core.settings import Settings

#: The external version of each status: a resolution outranks the firing alert it resolves.
STATUS_VERSION = {"firing": 1, "resolved": 2}

#: The posts field each rule key counts by (``all``: one series for the whole stream).
KEY_FIELDS: dict[str, str | None] = {
    "topic": "topics",
    "watch_term": "entities.watch_terms",
    "source": "source",
    "hashtag": "entities.hashtags",
    "all": None,
}
ALL_KEY = "all"

#: Most windows one key's series may hold (a week of 1-minute windows): beyond, the backtest asks for less.
MAX_WINDOWS = 10_080
#: Buckets per page of the composite aggregation.
PAGE = 2_000

Outcome = Literal["indexed", "superseded", "rejected", "retry"]


@dataclass(frozen=True)
class BulkItem:
    """The answer for one alert of a bulk request: what happened and, when rejected, why."""

    id: str
    outcome: Outcome
    status: int
    reason: str = ""


def alert_version(alert: Mapping[str, Any]) -> int:
    """The external version an alert is indexed with (a firing alert before its resolution)."""
    return STATUS_VERSION.get(str(alert.get("status", "firing")), 1)


def _outcome(info: Mapping[str, Any]) -> BulkItem:
    status = int(info.get("status", 500))
    doc_id = str(info.get("_id", ""))
    if 200 <= status < 300:
        return BulkItem(doc_id, "indexed", status)
    error = info.get("error")
    kind = str(error.get("type", "error")) if isinstance(error, dict) else "error"
    reason = str(error.get("reason", error)) if isinstance(error, dict) else str(error)
    if status == 409 and kind == "version_conflict_engine_exception":
        # The document holds a later state already (the resolution, when a firing alert comes again).
        return BulkItem(doc_id, "superseded", status)
    if 400 <= status < 500 and status not in (401, 403, 404, 408, 409, 429):
        return BulkItem(doc_id, "rejected", status, f"Elasticsearch rejected the alert: {kind}: {reason}")
    return BulkItem(doc_id, "retry", status, f"{status} {kind}: {reason}")


async def bulk_index_alerts(
    client: AsyncElasticsearch, index: str, alerts: Sequence[tuple[str, bytes, int]]
) -> list[BulkItem]:
    """Index ``(id, JSON body, version)`` triples; one :class:`BulkItem` per alert, in order.

    Raises what the client raises when the request as a whole fails (unreachable, 5xx, 401...).
    """
    if not alerts:
        return []
    parts: list[bytes] = []
    for doc_id, body, version in alerts:
        action = {"index": {"_index": index, "_id": doc_id, "version": version, "version_type": "external_gte"}}
        parts += (orjson.dumps(action), b"\n", body, b"\n")
    resp = await client.bulk(
        operations=b"".join(parts),  # type: ignore[arg-type]
        filter_path="items.*._id,items.*.status,items.*.error",
    )
    items = [_outcome(next(iter(item.values()), {})) for item in resp.body.get("items", ())]
    # An answer per action, in order; a short answer leaves the rest to retry.
    return items + [BulkItem(doc_id, "retry", 500, "no answer") for doc_id, _, _ in alerts[len(items) :]]


# --- reading -------------------------------------------------------------------------------------
def _pattern(settings: Settings) -> str:
    return f"{settings.es_alerts_index}*"


def list_alerts(
    client: Elasticsearch,
    settings: Settings,
    *,
    since: str | None = None,
    rule: Sequence[str] = (),
    status: Sequence[str] = (),
    limit: int = 50,
) -> tuple[int, list[dict[str, Any]]]:
    """How many alerts match, and the newest ``limit`` of them (by the time they were raised)."""
    filters: list[dict[str, Any]] = []
    if since:
        filters.append({"range": {"created_at": {"gte": since}}})
    if rule:
        filters.append({"terms": {"rule": list(rule)}})
    if status:
        # Alerts of the first producers carry no status: they were firing.
        wanted: list[dict[str, Any]] = [{"terms": {"status": list(status)}}]
        if "firing" in status:
            wanted.append({"bool": {"must_not": {"exists": {"field": "status"}}}})
        filters.append({"bool": {"should": wanted, "minimum_should_match": 1}})
    try:
        resp = client.search(
            index=_pattern(settings),
            query={"bool": {"filter": filters}},
            sort=[{"created_at": "desc"}, {"id": "asc"}],
            size=limit,
            track_total_hits=True,
            ignore_unavailable=True,
            allow_no_indices=True,
        )
    except NotFoundError:
        return 0, []
    hits = resp["hits"]
    return int(hits["total"]["value"]), [hit["_source"] for hit in hits["hits"]]


def find_alerts(client: Elasticsearch, settings: Settings, ref: str, limit: int = 5) -> list[dict[str, Any]]:
    """Alerts whose id is ``ref`` or starts with it (an id as ``alerts list`` shows it, or its first digits)."""
    ref = ref.strip().lower()
    query = {"ids": {"values": [ref]}} if len(ref) == 32 else {"prefix": {"id": ref}}
    try:
        resp = client.search(
            index=_pattern(settings),
            query=query,
            size=limit,
            sort=[{"created_at": "desc"}],
            ignore_unavailable=True,
            allow_no_indices=True,
        )
    except NotFoundError:
        return []
    return [hit["_source"] for hit in resp["hits"]["hits"]]


# --- window counts for backtests ---------------------------------------------------------------------
#: One window of one key: (window start in epoch seconds, posts, negative posts).
Window = tuple[int, int, int]


@dataclass(frozen=True)
class PostSelection:
    """Which posts a rule counts (its filters); an empty tuple admits every value."""

    topic: Sequence[str] = ()
    watch_term: Sequence[str] = ()
    source: Sequence[str] = ()
    lang: Sequence[str] = ()
    sentiment: Sequence[str] = ()

    def clauses(self) -> list[dict[str, Any]]:
        """Elasticsearch filter clauses, one per filter given."""
        fields = (
            (self.topic, "topics"), (self.watch_term, "entities.watch_terms"), (self.source, "source"),
            (self.lang, "lang"), (self.sentiment, "sentiment.label"),
        )  # fmt: skip
        return [{"terms": {field: list(values)}} for values, field in fields if values]


@dataclass(frozen=True)
class WindowCounts:
    """A complete series per key (every window from the first to the last, zeros included),
    and how many keys there were in all (more than ``series`` holds when the top ones were kept)."""

    series: dict[str, list[Window]]
    keys_total: int
    window_seconds: int
    start: int
    end: int

    @property
    def capped(self) -> bool:
        return self.keys_total > len(self.series)


def window_bounds(since: datetime, until: datetime, window_seconds: int) -> tuple[int, int]:
    """The first window start and the end of the last whole window: multiples of the window since the epoch."""
    start = int(since.timestamp()) // window_seconds * window_seconds
    end = int(until.timestamp()) // window_seconds * window_seconds
    return start, end


def window_counts(
    client: Elasticsearch,
    settings: Settings,
    *,
    selection: PostSelection = PostSelection(),
    key: str = ALL_KEY,
    window_seconds: int,
    since: datetime,
    until: datetime,
    max_keys: int = 50,
    newest_keys: bool = False,
) -> WindowCounts:
    """Posts and negative posts per key value and window, for every whole window from ``since`` to ``until``.

    ``key`` is a rule key (topic, watch_term, source, hashtag or all); a filter on the keyed field
    narrows the keys too, as the detector does. Only the ``max_keys`` keys with the most posts are
    counted, or with ``newest_keys`` the ones first seen last (new terms: the busiest are the old ones).
    Raises ValueError when the range holds more than :data:`MAX_WINDOWS` windows.
    """
    if key not in KEY_FIELDS:
        raise ValueError(f"key must be one of {', '.join(KEY_FIELDS)}, not {key!r}")
    start, end = window_bounds(since, until, window_seconds)
    windows = max(0, (end - start) // window_seconds)
    if windows > MAX_WINDOWS:
        raise ValueError(
            f"{windows} windows of {window_seconds // 60} min is more than {MAX_WINDOWS}; "
            "choose a shorter time range or a rule with a longer window"
        )
    if windows == 0:
        return WindowCounts({}, 0, window_seconds, start, end)
    key_field = KEY_FIELDS[key]
    filters = [
        *selection.clauses(),
        {"range": {"created_at": {"gte": start * 1000, "lt": end * 1000, "format": "epoch_millis"}}},
    ]
    wanted: Sequence[str] = getattr(selection, key, ()) if key != ALL_KEY else ()
    keys: list[str] | None = None
    keys_total = 1
    if key_field is not None:
        keys, keys_total = _top_keys(client, settings, filters, key_field, wanted, max_keys, newest_keys)
        if not keys:
            return WindowCounts({}, 0, window_seconds, start, end)
        filters.append({"terms": {key_field: keys}})
    counts = _counts(client, settings, filters, key_field, window_seconds, start, end)
    names = keys if keys is not None else [ALL_KEY]
    series = {
        name: [(at, *counts.get((name, at), (0, 0))) for at in range(start, end, window_seconds)] for name in names
    }
    return WindowCounts(series, keys_total, window_seconds, start, end)


def _search(client: Elasticsearch, settings: Settings, body: dict[str, Any]) -> Mapping[str, Any]:
    try:
        resp = client.search(index=settings.es_index, size=0, ignore_unavailable=True, allow_no_indices=True, **body)
    except NotFoundError:
        return {}
    answer: Mapping[str, Any] = resp.body
    return answer


def _top_keys(
    client: Elasticsearch,
    settings: Settings,
    filters: list[dict[str, Any]],
    key_field: str,
    wanted: Sequence[str],
    max_keys: int,
    newest: bool,
) -> tuple[list[str], int]:
    terms: dict[str, Any] = {"field": key_field, "size": max_keys}
    keys_agg: dict[str, Any] = {"terms": terms}
    if newest:
        terms["order"] = {"first_seen": "desc"}
        keys_agg["aggs"] = {"first_seen": {"min": {"field": "created_at"}}}
    if wanted:
        terms["include"] = list(wanted)
    resp = _search(
        client,
        settings,
        {
            "query": {"bool": {"filter": filters}},
            "aggs": {
                "keys": keys_agg,
                "how_many": {"cardinality": {"field": key_field}},
            },
        },
    )
    aggs = resp.get("aggregations") or {}
    keys = [str(b["key"]) for b in (aggs.get("keys") or {}).get("buckets", [])]
    total = int((aggs.get("how_many") or {}).get("value", len(keys)))
    if wanted:
        total = min(total, len(wanted))
    return keys, max(total, len(keys))


def _counts(
    client: Elasticsearch,
    settings: Settings,
    filters: list[dict[str, Any]],
    key_field: str | None,
    window_seconds: int,
    start: int,
    end: int,
) -> dict[tuple[str, int], tuple[int, int]]:
    """(key, window start) → (posts, negative posts), paging through a composite aggregation."""
    sources: list[dict[str, Any]] = []
    if key_field is not None:
        sources.append({"key": {"terms": {"field": key_field}}})
    sources.append({"window": {"date_histogram": {"field": "created_at", "fixed_interval": f"{window_seconds}s"}}})
    counts: dict[tuple[str, int], tuple[int, int]] = {}
    after: dict[str, Any] | None = None
    while True:
        composite: dict[str, Any] = {"size": PAGE, "sources": sources}
        if after is not None:
            composite["after"] = after
        resp = _search(
            client,
            settings,
            {
                "query": {"bool": {"filter": filters}},
                "aggs": {
                    "windows": {
                        "composite": composite,
                        "aggs": {"negative": {"filter": {"term": {"sentiment.label": "negative"}}}},
                    }
                },
            },
        )
        agg = (resp.get("aggregations") or {}).get("windows") or {}
        buckets = agg.get("buckets", [])
        for bucket in buckets:
            at = int(bucket["key"]["window"]) // 1000
            if not start <= at < end:
                continue
            name = str(bucket["key"]["key"]) if key_field is not None else ALL_KEY
            counts[(name, at)] = (int(bucket["doc_count"]), int(bucket["negative"]["doc_count"]))
        after = agg.get("after_key")
        if not buckets or after is None or len(buckets) < PAGE:
            return counts
