"""The worker's HTTP API (Faust web views): ``GET /api/search`` and ``GET /api/stats``, JSON out.

Anyone who reaches the port may ask, so what one request may cost is bounded: the query language
(:mod:`elastic.query_limits`), a time limit Elasticsearch enforces (:mod:`elastic.bounded`), and at
most ASCOLTO_API_MAX_CONCURRENT_SEARCHES requests in flight per worker process, the rest turned
away at once with 503 and ``Retry-After`` rather than queued. Every answer is JSON; an error is
``{"error": "<one sentence>"}`` with 400 (bad parameters, a query over a limit), 502 (Elasticsearch
refused the worker's credentials), 503 (busy or unreachable; retry) or 504 (the search ran out of time).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import faust
from elastic_transport import ConnectionError as TransportConnectionError
from elastic_transport import ConnectionTimeout
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError
from faust.web import Request, Response, View

from core.settings import Settings
from elastic.bounded import SearchTimedOut, client_timeout, complete, describe_api_error, time_limited
from elastic.search import SearchRequest, SearchResult
from elastic.stats import StatsRequest, parse_stats

log = logging.getLogger(__name__)

FILTERS = {"lang", "sentiment", "topic", "term", "source", "author", "since", "until"}
SEARCH_PARAMS = FILTERS | {"q", "sort", "page", "size"}
STATS_PARAMS = FILTERS | {"interval", "top"}
#: Seconds a client turned away (busy, Elasticsearch unreachable or overloaded) is told to wait.
RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, JSON body, extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def error(cls, status: int, sentence: str) -> Answer:
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}
        return cls(status, {"error": sentence}, retry)


def unknown_params(params: Mapping[str, Any], known: set[str] | frozenset[str]) -> str | None:
    """The sentence naming the parameters a view does not know (and those it does), or None."""
    extra = sorted(set(params) - known)
    return f"unknown parameter(s) {', '.join(extra)}; known: {', '.join(sorted(known))}" if extra else None


def _render_search(search: SearchRequest, resp: Mapping[str, Any]) -> dict[str, Any]:
    result = SearchResult.from_response(resp)
    return {"total": result.total, "page": search.page, "size": search.size, "posts": result.posts}


def _empty_search(search: SearchRequest) -> dict[str, Any]:
    return {"total": 0, "page": search.page, "size": search.size, "posts": []}


def _empty_stats(stats: StatsRequest) -> dict[str, Any]:
    return {"total": 0, "interval": stats.fixed_interval(), "sentiment": {}, "sentiment_over_time": [],
            "top_topics": [], "top_negative_topics": [], "languages": [], "sources": []}  # fmt: skip


class SearchApi:
    """What the views answer, without Faust: validation, the in-flight limit, the search, its errors."""

    def __init__(self, client: AsyncElasticsearch, settings: Settings) -> None:
        self.timeout = settings.api_search_timeout_seconds
        self.client = client.options(request_timeout=client_timeout(self.timeout))
        self.index = settings.es_index
        self.limit = settings.api_max_concurrent_searches
        self.max_terms = settings.api_max_query_terms
        self.in_flight = 0

    async def search(self, params: Mapping[str, Any]) -> Answer:
        def parse(query: Mapping[str, Any]) -> SearchRequest:
            return SearchRequest.from_params(query, max_terms=self.max_terms)

        return await self.serve(params, SEARCH_PARAMS, parse, _render_search, _empty_search)

    async def stats(self, params: Mapping[str, Any]) -> Answer:
        return await self.serve(
            params, STATS_PARAMS, StatsRequest.from_params, lambda st, resp: parse_stats(resp, st), _empty_stats
        )

    async def serve(
        self,
        params: Mapping[str, Any],
        known: set[str] | frozenset[str],
        parse: Callable[[Mapping[str, Any]], Any],
        render: Callable[[Any, Mapping[str, Any]], Any],
        empty: Callable[[Any], Any],
        index: str | None = None,
    ) -> Answer:
        """Validate the parameters (400 on anything wrong), run the search if a slot is free, render its answer.

        ``parse`` returns an object with ``body()``; ``render`` may return an :class:`Answer` (a 404, say)
        instead of a body. ``index``: another index than the posts' (the alerts').
        """
        problem = unknown_params(params, known)
        if problem:
            return Answer.error(400, problem)
        try:
            parsed = parse(params)
        except ValueError as exc:
            return Answer.error(400, str(exc))
        if self.in_flight >= self.limit:
            # Turned away at once: queued requests would only wait for answers their clients gave up on.
            return Answer.error(
                503, f"this worker is already running {self.limit} searches; retry in {RETRY_AFTER_SECONDS} s"
            )
        self.in_flight += 1
        try:
            body = time_limited(parsed.body(), self.timeout)
            resp = await self.client.search(index=index or self.index, **body)
            rendered = render(parsed, complete(resp.body, self.timeout))
            return rendered if isinstance(rendered, Answer) else Answer(200, rendered)
        except (SearchTimedOut, ConnectionTimeout):
            log.info("search stopped after its time limit of %gs: %s", self.timeout, dict(params))
            return Answer.error(504, str(SearchTimedOut(self.timeout)).rstrip("."))
        except NotFoundError:
            nothing = empty(parsed)  # nothing indexed yet
            return nothing if isinstance(nothing, Answer) else Answer(200, nothing)
        except TransportConnectionError:
            return Answer.error(503, "Elasticsearch is unreachable; try again shortly")
        except ApiError as exc:
            status, sentence = describe_api_error(exc)
            if status >= 500:
                log.warning("search failed: %s", sentence)
            return Answer.error(status, sentence)
        except Exception:
            log.exception("search failed unexpectedly: %s", dict(params))
            return Answer.error(500, "the worker failed to answer this request; its log has the details")
        finally:
            self.in_flight -= 1


def add_api(app: faust.App, client: AsyncElasticsearch, settings: Settings) -> SearchApi:
    """Register the views on the worker's web server (ASCOLTO_WEB_PORT)."""
    api = SearchApi(client, settings)

    def respond(view: View, answer: Answer) -> Response:
        return view.json(answer.body, status=answer.status, headers=answer.headers or None)

    @app.page("/api/search")
    class Search(View):
        """Full-text search with filters, sorting and paging."""

        async def get(self, request: Request) -> Response:
            return respond(self, await api.search(request.query))

    @app.page("/api/stats")
    class Stats(View):
        """Sentiment over time, top topics and negative topics, languages and sources."""

        async def get(self, request: Request) -> Response:
            return respond(self, await api.stats(request.query))

    return api
