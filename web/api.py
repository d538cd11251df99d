"""The worker's HTTP API (Faust web views): ``GET /api/search`` and ``GET /api/stats``, JSON out.

Bad parameters get a 400 with a message saying which and why; an unreachable Elasticsearch a 503.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError
from faust.web import Request, Response, View

from core.settings import Settings
from elastic.search import SearchRequest, SearchResult, rejected_reason
from elastic.stats import StatsRequest, parse_stats

FILTERS = {"lang", "sentiment", "topic", "source", "author", "since", "until"}
SEARCH_PARAMS = FILTERS | {"q", "sort", "page", "size"}
STATS_PARAMS = FILTERS | {"interval", "top"}


def _unknown(params: Mapping[str, Any], known: set[str]) -> str | None:
    extra = sorted(set(params) - known)
    return f"unknown parameter(s) {', '.join(extra)}; known: {', '.join(sorted(known))}" if extra else None


async def _answer(view: View, call: Callable[[], Awaitable[Any]], render: Callable[[Any], Any], empty: Any) -> Response:
    try:
        return view.json(render(await call()))
    except NotFoundError:
        return view.json(empty)  # nothing indexed yet
    except (TransportConnectionError, ConnectionTimeout):
        return view.json({"error": "Elasticsearch is unreachable; try again shortly"}, status=503)
    except ApiError as exc:
        if exc.meta.status == 400:
            return view.json({"error": f"Elasticsearch rejected the query: {rejected_reason(exc)}"}, status=400)
        return view.json({"error": f"Elasticsearch failed ({exc.meta.status}); try again shortly"}, status=503)


def _render_search(search: SearchRequest, resp: Any) -> dict[str, Any]:
    result = SearchResult.from_response(resp)
    return {"total": result.total, "page": search.page, "size": search.size, "posts": result.posts}


def _empty_search(search: SearchRequest) -> dict[str, Any]:
    return {"total": 0, "page": search.page, "size": search.size, "posts": []}


def _empty_stats(stats: StatsRequest) -> dict[str, Any]:
    return {"total": 0, "interval": stats.fixed_interval(), "sentiment": {}, "sentiment_over_time": [],
            "top_topics": [], "top_negative_topics": [], "languages": [], "sources": []}  # fmt: skip


def add_api(app: faust.App, client: AsyncElasticsearch, settings: Settings) -> None:
    """Register the views on the worker's web server (ASCOLTO_WEB_PORT)."""
    index = settings.es_index

    async def serve(
        view: View,
        request: Request,
        known: set[str],
        parse: Callable[[Mapping[str, Any]], Any],
        render: Callable[[Any, Any], Any],
        empty: Callable[[Any], Any],
    ) -> Response:
        """Validate the parameters (400 on anything wrong), run the search, render its answer."""
        problem = _unknown(request.query, known)
        if problem:
            return view.json({"error": problem}, status=400)
        try:
            parsed = parse(request.query)
        except ValueError as exc:
            return view.json({"error": str(exc)}, status=400)

        async def call() -> Any:
            return await client.search(index=index, **parsed.body())

        return await _answer(view, call, lambda resp: render(parsed, resp), empty(parsed))

    @app.page("/api/search")
    class Search(View):
        """Full-text search with filters, sorting and paging."""

        async def get(self, request: Request) -> Response:
            return await serve(self, request, SEARCH_PARAMS, SearchRequest.from_params, _render_search, _empty_search)

    @app.page("/api/stats")
    class Stats(View):
        """Sentiment over time, top topics and negative topics, languages and sources."""

        async def get(self, request: Request) -> Response:
            return await serve(
                self, request, STATS_PARAMS, StatsRequest.from_params, lambda st, r: parse_stats(r, st), _empty_stats
            )
