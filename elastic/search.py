"""Searching enriched posts: one validated request type for the CLI and the HTTP API.

Free text is matched on ``text`` and its Italian and English stemmed sub-fields, so *bolletta*
finds *bollette* and *outage* finds *outages*. The query language is Elasticsearch's query string
with its costly parts bounded (:mod:`elastic.query_limits`), and every search carries a time limit
that Elasticsearch enforces on its side too: the CLI and the HTTP API share these bounds.
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
from elastic.bounded import SearchTimedOut, client_timeout, complete, describe_api_error, time_limited
from elastic.client import es_client, unreachable
from elastic.filters import PostFilters, integer_param
from elastic.query_limits import QueryRejected, check_query, query_string

__all__ = ["PostFilters", "QueryRejected", "SearchRequest", "SearchResult", "SearchTimedOut", "search"]

TEXT_FIELDS = ["text", "text.it", "text.en"]
SORTS = {
    "newest": [{"created_at": "desc"}, {"id": "asc"}],
    "oldest": [{"created_at": "asc"}, {"id": "asc"}],
    "most_negative": [{"sentiment.compound": "asc"}, {"created_at": "desc"}],
    "most_positive": [{"sentiment.compound": "desc"}, {"created_at": "desc"}],
    "relevance": [{"_score": "desc"}, {"created_at": "desc"}],
}
MAX_WINDOW = 10_000  # Elasticsearch's default index.max_result_window
#: Default of ASCOLTO_API_MAX_QUERY_TERMS, for requests built without settings.
MAX_QUERY_TERMS = 32


@dataclass
class SearchRequest:
    """What a person or program asks for."""

    query: str = ""
    filters: PostFilters = field(default_factory=PostFilters)
    sort: str = "newest"
    page: int = 1
    size: int = 20
    max_terms: int = MAX_QUERY_TERMS

    @classmethod
    def from_params(cls, params: Mapping[str, Any], max_terms: int = MAX_QUERY_TERMS) -> SearchRequest:
        """From HTTP query parameters: q, lang, sentiment, topic, source, author, since, until, sort, page, size."""
        request = cls(
            query=str(params.get("q", "")),
            filters=PostFilters.from_params(params),
            sort=str(params.get("sort") or "newest"),
            page=integer_param(params, "page", 1, 1, MAX_WINDOW),
            size=integer_param(params, "size", 20, 1, 500),
            max_terms=max_terms,
        )
        request.body()  # validate everything now, so callers can answer 400
        return request

    def body(self) -> dict[str, Any]:
        """The Elasticsearch search body; ValueError (QueryRejected for ``q``) says what is wrong."""
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {self.sort!r}")
        if self.page * self.size > MAX_WINDOW:
            raise ValueError(f"page × size must stay within {MAX_WINDOW}; narrow the filters instead")
        check_query(self.query, self.max_terms)
        must: list[dict[str, Any]] = (
            [query_string(self.query, TEXT_FIELDS)] if self.query.strip() else [{"match_all": {}}]
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


def search(settings: Settings, request: SearchRequest) -> SearchResult:
    """Run a search (synchronously, for the CLI) within ASCOLTO_API_SEARCH_TIMEOUT_SECONDS; errors become
    one clear AscoltoError."""
    seconds = settings.api_search_timeout_seconds
    body = time_limited(request.body(), seconds)
    client = es_client(settings)
    try:
        resp = client.options(request_timeout=client_timeout(seconds)).search(index=settings.es_index, **body)
        return SearchResult.from_response(complete(resp.body, seconds))
    except ConnectionTimeout:
        raise SearchTimedOut(seconds) from None
    except TransportConnectionError as exc:
        raise unreachable(settings, exc) from None
    except NotFoundError:
        return SearchResult(0, [])
    except ApiError as exc:
        raise AscoltoError(f"{describe_api_error(exc)[1]}.") from None
    finally:
        client.close()
