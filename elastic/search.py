"""Searching enriched posts: one validated request type for the CLI and the HTTP API.

Free text is matched on ``text`` and its Italian and English stemmed sub-fields, so *bolletta*
finds *bollette* and *outage* finds *outages*.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, NotFoundError

from core.errors import AscoltoError
from core.settings import Settings
from elastic.client import es_client, unreachable
from elastic.filters import PostFilters, integer_param

TEXT_FIELDS = ["text", "text.it", "text.en"]
SORTS = {
    "newest": [{"created_at": "desc"}, {"id": "asc"}],
    "oldest": [{"created_at": "asc"}, {"id": "asc"}],
    "most_negative": [{"sentiment.compound": "asc"}, {"created_at": "desc"}],
    "most_positive": [{"sentiment.compound": "desc"}, {"created_at": "desc"}],
    "relevance": [{"_score": "desc"}, {"created_at": "desc"}],
}
MAX_WINDOW = 10_000  # Elasticsearch's default index.max_result_window


@dataclass
class SearchRequest:
    """What a person or program asks for."""

    query: str = ""
    filters: PostFilters = field(default_factory=PostFilters)
    sort: str = "newest"
    page: int = 1
    size: int = 20

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SearchRequest:
        """From HTTP query parameters: q, lang, sentiment, topic, source, author, since, until, sort, page, size."""
        request = cls(
            query=str(params.get("q", "")),
            filters=PostFilters.from_params(params),
            sort=str(params.get("sort") or "newest"),
            page=integer_param(params, "page", 1, 1, MAX_WINDOW),
            size=integer_param(params, "size", 20, 1, 500),
        )
        request.body()  # validate everything now, so callers can answer 400
        return request

    def body(self) -> dict[str, Any]:
        """The Elasticsearch search body."""
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {self.sort!r}")
        if self.page * self.size > MAX_WINDOW:
            raise ValueError(f"page × size must stay within {MAX_WINDOW}; narrow the filters instead")
        must: list[dict[str, Any]] = (
            [{"query_string": {"query": self.query, "fields": TEXT_FIELDS, "default_operator": "AND"}}]
            if self.query.strip()
            else [{"match_all": {}}]
        )
        return {
            "query": {"bool": {"must": must, "filter": self.filters.clauses()}},
            "sort": SORTS[self.sort],
            "from": (self.page - 1) * self.size,
            "size": self.size,
            "track_total_hits": True,
        }


@dataclass(frozen=True)
class SearchResult:
    total: int
    posts: list[dict[str, Any]]

    @classmethod
    def from_response(cls, resp: Mapping[str, Any]) -> SearchResult:
        hits = resp["hits"]
        return cls(hits["total"]["value"], [h["_source"] for h in hits["hits"]])


def rejected_reason(exc: ApiError) -> str:
    """The root cause Elasticsearch gave for refusing a request."""
    body = exc.body if isinstance(exc.body, dict) else {}
    causes = body.get("error", {}).get("root_cause") or [{}]
    return str(causes[0].get("reason") or exc.message)


def search(settings: Settings, request: SearchRequest) -> SearchResult:
    """Run a search (synchronously, for the CLI); errors become one clear AscoltoError."""
    body = request.body()
    client = es_client(settings)
    try:
        return SearchResult.from_response(client.search(index=settings.es_index, **body).body)
    except (TransportConnectionError, ConnectionTimeout) as exc:
        raise unreachable(settings, exc) from None
    except NotFoundError:
        return SearchResult(0, [])
    except ApiError as exc:
        raise AscoltoError(
            f"Elasticsearch rejected the search: {rejected_reason(exc)}; check the query syntax."
        ) from None
    finally:
        client.close()
