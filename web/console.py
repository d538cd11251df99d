"""The console (docs/console.md): its page and static files, and the JSON and Server-Sent Events API it uses.

Served by the worker's own web server under the access rule of :mod:`web.access`. The JSON
endpoints go through :meth:`web.api.SearchApi.serve`, so they share the search API's bounds (the
query language's limits, the time limit, the in-flight limit) and its error sentences. The live
feed is a long request of its own kind, so it has its own bound: ASCOLTO_CONSOLE_MAX_FEED_CLIENTS
streams per process.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import faust
import orjson
from aiohttp import web as aioweb
from elastic_transport import ConnectionError as TransportConnectionError
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError
from faust.web import Request, Response, View
from mode.types.signals import BaseSignalT

from core.settings import Settings
from elastic.bounded import client_timeout, describe_api_error
from elastic.console_queries import (
    BACKLOG,
    FILTER_PARAMS,
    OVERVIEW_PARAMS,
    AlertsRequest,
    ConsoleFilters,
    Cursor,
    OverviewRequest,
    PostLookup,
    after_body,
    backlog_body,
    event_id,
    parse_alerts,
    parse_event_id,
    parse_overview,
    summary,
)
from web.api import RETRY_AFTER_SECONDS, Answer, SearchApi, unknown_params
from web.console_health import PipelineHealth
from web.health import Readiness

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).with_name("console_static")
#: Seconds between keep-alive comments on an idle feed (proxies close silent connections).
PING_SECONDS = 15.0
#: Posts one feed poll fetches at most; a full page is followed by another at once, up to FEED_PAGES.
FEED_PAGE = 100
FEED_PAGES = 5
#: The browser's wait before reconnecting a dropped feed, in ms (sent as ``retry:``).
RECONNECT_MS = 2000
for _type, _suffix in (("text/javascript", ".js"), ("text/javascript", ".mjs"), ("font/woff2", ".woff2"),
                       ("image/svg+xml", ".svg"), ("application/json", ".map")):  # fmt: skip
    mimetypes.add_type(_type, _suffix)  # the platform's table may lack or differ on these


def static_file(root: Path, relative: str) -> Path | None:
    """The file ``relative`` names inside ``root``, or None (outside it, hidden, a folder, missing)."""
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        return None
    base = root.resolve()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def serve_static(root: Path, relative: str) -> aioweb.StreamResponse:
    """A file of the console's folder (aiohttp's FileResponse: content type, Last-Modified, 304s, ranges)."""
    path = static_file(root, relative)
    if path is None:
        return aioweb.json_response({"error": f"no such console file: {relative}"}, status=404)
    kind, _ = mimetypes.guess_type(path.name)  # aiohttp's own table ignores the types added above
    if kind and kind.startswith("text/"):
        kind += "; charset=utf-8"  # the page's files are UTF-8 (Italian text)
    headers = {"Cache-Control": "no-cache", "Content-Type": kind or "application/octet-stream"}
    # no-cache = revalidate each time: an upgraded worker serves the new page at once.
    return aioweb.FileResponse(path, headers=headers)


def _sse_event(post: Mapping[str, Any]) -> bytes:
    ident = event_id(post).replace("\r", " ").replace("\n", " ")
    return b"id: " + ident.encode() + b"\nevent: post\ndata: " + orjson.dumps(summary(post)) + b"\n\n"


def _sse_problem(sentence: str) -> bytes:
    return b"event: problem\ndata: " + orjson.dumps({"error": sentence}) + b"\n\n"


class LiveFeeds:
    """The live feeds of one process: each polls Elasticsearch for posts indexed after its cursor.

    Posts are sent only once their ``indexed_at`` is ASCOLTO_CONSOLE_FEED_SETTLE_SECONDS old: by then
    every post stamped before them is searchable, so the order by (indexed_at, id) is final and a
    cursor (Last-Event-ID) resumes without loss or repeat (docs/console.md, "Design").
    """

    def __init__(
        self,
        client: AsyncElasticsearch,
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.timeout = settings.api_search_timeout_seconds
        self.client = client.options(request_timeout=client_timeout(self.timeout))
        self.index = settings.es_index
        self.poll_seconds = settings.console_feed_poll_seconds
        self.settle_ms = int(settings.console_feed_settle_seconds * 1000)
        self.limit = settings.console_max_feed_clients
        self.max_terms = settings.api_max_query_terms
        self.clock = clock
        self.clients = 0
        self.closing = asyncio.Event()

    def _upper_ms(self) -> int:
        return int(self.clock() * 1000) - self.settle_ms

    async def _search(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            resp = await self.client.search(index=self.index, ignore_unavailable=True, **body)
        except NotFoundError:
            return []  # nothing indexed yet
        hits: list[dict[str, Any]] = resp.body["hits"]["hits"]
        return hits

    async def stream(self, request: aioweb.Request) -> aioweb.StreamResponse:
        """Answer ``GET /api/feed``: 400/503 JSON, or the event stream until the client goes away."""
        problem = unknown_params(request.query, set(FILTER_PARAMS))
        last_id = request.headers.get("Last-Event-ID", "").strip()
        try:
            if problem:
                raise ValueError(problem)
            filters = ConsoleFilters.from_params(request.query, self.max_terms)
            cursor: Cursor | None = parse_event_id(last_id) if last_id else None
        except ValueError as exc:
            return aioweb.json_response({"error": str(exc)}, status=400)
        if self.clients >= self.limit:
            return aioweb.json_response(
                {"error": f"this worker already serves {self.limit} live feeds; retry later or close another page"},
                status=503,
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self.clients += 1
        try:
            response = aioweb.StreamResponse(
                headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            )
            await response.prepare(request)
            await response.write(f"retry: {RECONNECT_MS}\n\n".encode())
            await self._run(request, response, filters, cursor)
            return response
        finally:
            self.clients -= 1

    async def _run(
        self, request: aioweb.Request, response: aioweb.StreamResponse, filters: ConsoleFilters, cursor: Cursor | None
    ) -> None:
        floor = self._upper_ms()
        failing = False
        first = cursor is None
        last_write = time.monotonic()
        while not self.closing.is_set() and not _gone(request):
            try:
                events: list[bytes] = []
                upper = self._upper_ms()
                if first:  # the backlog: the newest posts, sent oldest first
                    hits = await self._search(backlog_body(filters, upper, BACKLOG))
                    hits.reverse()
                    first = False
                    pages = [hits]
                else:
                    pages = []
                    for _ in range(FEED_PAGES):
                        hits = await self._search(after_body(filters, cursor, floor, upper, FEED_PAGE))
                        pages.append(hits)
                        if hits:
                            cursor = (int(hits[-1]["sort"][0]), str(hits[-1]["sort"][1]))
                        if len(hits) < FEED_PAGE:
                            break
                for hits in pages:
                    events += [_sse_event(hit["_source"]) for hit in hits]
                if pages and pages[0] and cursor is None:
                    newest = pages[0][-1]["sort"]
                    cursor = (int(newest[0]), str(newest[1]))
                if cursor is None:
                    floor = upper  # nothing matched up to here
                if failing:
                    failing = False
                    log.info("console feed: Elasticsearch answers again")
            except (TransportConnectionError, ApiError) as exc:
                sentence = (
                    "Elasticsearch is unreachable; the feed resumes when it answers"
                    if isinstance(exc, TransportConnectionError)
                    else describe_api_error(exc)[1]
                )
                events = [] if failing else [_sse_problem(sentence)]
                failing = True
            if not events and time.monotonic() - last_write >= PING_SECONDS:
                events = [b": ping\n\n"]
            if events:
                try:
                    await response.write(b"".join(events))
                except (ConnectionError, RuntimeError):
                    return  # the client went away mid-write
                last_write = time.monotonic()
            try:
                await asyncio.wait_for(self.closing.wait(), self.poll_seconds)
            except TimeoutError:
                pass


def _gone(request: aioweb.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class ConsoleApi:
    """The console's JSON endpoints, without Faust: each an :class:`Answer`."""

    def __init__(self, api: SearchApi, settings: Settings, health: PipelineHealth) -> None:
        self.api = api
        self.settings = settings
        self.health_report = health
        self.alerts_index = f"{settings.es_alerts_index}*"

    async def overview(self, params: Mapping[str, Any]) -> Answer:
        def parse(query: Mapping[str, Any]) -> OverviewRequest:
            return OverviewRequest.from_params(query, max_terms=self.api.max_terms)

        return await self.api.serve(
            params,
            OVERVIEW_PARAMS,
            parse,
            lambda req, resp: parse_overview(resp, req),
            lambda req: parse_overview({}, req),
        )

    async def post(self, post_id: str, params: Mapping[str, Any]) -> Answer:
        def render(lookup: PostLookup, resp: Mapping[str, Any]) -> Any:
            hits = resp.get("hits", {}).get("hits", [])
            return hits[0]["_source"] if hits else _no_post(lookup)

        return await self.api.serve(params, set(), lambda _: PostLookup.of(post_id), render, _no_post)

    async def alerts(self, params: Mapping[str, Any]) -> Answer:
        enabled = self.settings.alert_rules is not None
        return await self.api.serve(
            params,
            {"limit"},
            AlertsRequest.from_params,
            lambda _, resp: parse_alerts(resp, enabled),
            lambda _: parse_alerts({}, enabled),
            index=self.alerts_index,
        )

    async def health(self, params: Mapping[str, Any]) -> Answer:
        problem = unknown_params(params, set())
        if problem:
            return Answer.error(400, problem)
        return Answer(200, await self.health_report.report())


def _no_post(lookup: PostLookup) -> Answer:
    return Answer.error(404, f"no post {lookup.post_id!r} in the index: it is not indexed yet, or retention deleted it")


def add_console(
    app: faust.App,
    api: SearchApi,
    es: AsyncElasticsearch,
    settings: Settings,
    readiness: Readiness,
    static_dir: Path = STATIC_DIR,
) -> tuple[ConsoleApi, LiveFeeds]:
    """Register the console's page, files and API on the worker's web server."""
    health = PipelineHealth(es, settings, readiness)
    console = ConsoleApi(api, settings, health)
    feeds = LiveFeeds(es, settings)

    def respond(view: View, answer: Answer) -> Response:
        return view.json(answer.body, status=answer.status, headers=answer.headers or None)

    @app.page("/console")
    class ConsoleRedirect(View):
        """``/console`` → ``/console/`` (relative links of the page need the slash)."""

        async def get(self, request: Request) -> Response:
            query = f"?{request.query_string}" if request.query_string else ""
            return aioweb.Response(status=308, headers={"Location": f"/console/{query}"})  # type: ignore[return-value]

    @app.page("/console/")
    class ConsolePage(View):
        """The console page."""

        async def get(self, request: Request) -> Response:
            return serve_static(static_dir, "index.html")  # type: ignore[return-value]

    @app.page("/console/static/{path:.+}")
    class ConsoleFiles(View):
        """The page's scripts, styles, fonts and images."""

        async def get(self, request: Request, path: str) -> Response:
            return serve_static(static_dir, path)  # type: ignore[return-value]

    @app.page("/api/overview")
    class Overview(View):
        """Volume and sentiment over time, per topic and watch term."""

        async def get(self, request: Request) -> Response:
            return respond(self, await console.overview(request.query))

    @app.page("/api/feed")
    class Feed(View):
        """Server-Sent Events: the newest matching posts, then each new one as it is indexed."""

        async def get(self, request: Request) -> Response:
            return await feeds.stream(request)  # type: ignore[arg-type,return-value]

    @app.page("/api/posts/{post_id:.+}")
    class Post(View):
        """One indexed post, whole."""

        async def get(self, request: Request, post_id: str) -> Response:
            return respond(self, await console.post(post_id, request.query))

    @app.page("/api/alerts")
    class Alerts(View):
        """Firing and resolved alerts, each with the search listing its posts."""

        async def get(self, request: Request) -> Response:
            return respond(self, await console.alerts(request.query))

    @app.page("/api/health")
    class Health(View):
        """The whole pipeline's rates, lag, dead letters and Elasticsearch status."""

        async def get(self, request: Request) -> Response:
            return respond(self, await console.health(request.query))

    @app.on_before_shutdown.connect
    async def stop_feeds(sender: Any, /, *args: Any, signal: BaseSignalT[Any], **kwargs: Any) -> None:
        feeds.closing.set()  # open streams end now instead of holding the web server's shutdown
        await health.close()

    return console, feeds
