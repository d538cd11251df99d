"""Searching enriched posts: one query builder for the CLI (and later the HTTP API)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, NotFoundError

from ascolto.errors import AscoltoError
from ascolto.es import es_client, unreachable
from ascolto.settings import Settings

_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
SENTIMENTS = ("positive", "neutral", "negative")


def parse_since(value: str) -> str:
    """``15m``/``24h``/``7d``/``2w`` → Elasticsearch date math; an ISO date or time passes through."""
    value = value.strip()
    match = _RELATIVE.match(value)
    if match:
        return f"now-{match.group(1)}{match.group(2)}"
    if re.match(r"^\d{4}-\d{2}-\d{2}([T ][\d:.]+)?(Z|[+-]\d{2}:?\d{2})?$", value):
        return value
    raise ValueError(f"{value!r} is neither a duration like 24h or 7d nor an ISO date")


@dataclass
class SearchRequest:
    """What a person or program asks for; unset filters are not applied."""

    query: str = ""
    lang: list[str] = field(default_factory=list)
    sentiment: list[str] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    since: str | None = None
    limit: int = 20

    def body(self) -> dict[str, Any]:
        """The Elasticsearch search body: query_string on text, exact filters, newest first."""
        filters: list[dict[str, Any]] = []
        if self.lang:
            filters.append({"terms": {"lang": self.lang}})
        if self.sentiment:
            bad = set(self.sentiment) - set(SENTIMENTS)
            if bad:
                raise ValueError(f"sentiment must be one of {', '.join(SENTIMENTS)}, not {', '.join(sorted(bad))}")
            filters.append({"terms": {"sentiment.label": self.sentiment}})
        if self.source:
            filters.append({"terms": {"source": self.source}})
        if self.since:
            filters.append({"range": {"created_at": {"gte": parse_since(self.since)}}})
        must: list[dict[str, Any]] = (
            [{"query_string": {"query": self.query, "default_field": "text", "default_operator": "AND"}}]
            if self.query.strip()
            else [{"match_all": {}}]
        )
        return {
            "query": {"bool": {"must": must, "filter": filters}},
            "sort": [{"created_at": "desc"}, {"id": "asc"}],
            "size": self.limit,
            "track_total_hits": True,
        }


@dataclass(frozen=True)
class SearchResult:
    total: int
    posts: list[dict[str, Any]]


def search(settings: Settings, request: SearchRequest) -> SearchResult:
    """Run a search; connection and query errors become one clear AscoltoError."""
    body = request.body()
    client = es_client(settings)
    try:
        resp = client.search(index=settings.es_index, **body)
    except (TransportConnectionError, ConnectionTimeout) as exc:
        raise unreachable(settings, exc) from None
    except NotFoundError:
        return SearchResult(0, [])
    except ApiError as exc:
        reason = (
            exc.body.get("error", {}).get("root_cause", [{}])[0].get("reason") if isinstance(exc.body, dict) else None
        )
        raise AscoltoError(
            f"Elasticsearch rejected the search: {reason or exc.message}; check the query syntax."
        ) from None
    finally:
        client.close()
    hits = resp["hits"]
    return SearchResult(hits["total"]["value"], [h["_source"] for h in hits["hits"]])
