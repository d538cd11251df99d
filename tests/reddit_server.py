"""A Reddit-compatible loopback server: application-only OAuth and the ``/r/{subs}/new`` and
``/r/{subs}/comments`` listings, with Reddit's rate-limit headers and the faults a real network has.

Things and Listings are shaped as Reddit's API documentation and its JSON show them (``t3`` posts, ``t1``
comments; ``{"kind": "Listing", "data": {"after", "before", "dist", "children"}}``, newest first, ``limit``
and ``after`` honoured). Every listing answer carries ``X-Ratelimit-Used``/``-Remaining``/``-Reset``
(whole seconds to the end of a fixed window, rounded down like the worst a client may meet); a request
over the budget is answered 429 and counted, so a test can assert the budget was never exceeded.
"""

from __future__ import annotations

import asyncio
import base64
import math
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from ascolto.testing import free_port

CLIENT_ID = "p-jcoLKBynTLew"
CLIENT_SECRET = "gko_LXELoV07ZBNUXrvWZfzE3aI"
USER_AGENT = "linux:ascolto-tests:0.1 (by /u/ascolto)"
T0 = 1_735_725_600  # 2025-01-01T10:00:00Z: things are one second apart from here


def post_thing(n: int, *, sub: str = "italy", title: str | None = None, selftext: str = "") -> dict[str, Any]:
    """The ``n``-th post (``t3_p<n>``) as a ``t3`` thing."""
    rid = f"p{n}"
    return {
        "kind": "t3",
        "data": {
            "subreddit": sub,
            "subreddit_id": "t5_2qh13",
            "selftext": selftext,
            "author_fullname": "t2_4xk1e",
            "title": f"Post {n}: il treno è in ritardo" if title is None else title,
            "name": f"t3_{rid}",
            "score": 12,
            "ups": 12,
            "num_comments": 3,
            "created_utc": float(T0 + n),
            "id": rid,
            "author": "mario_rossi",
            "permalink": f"/r/{sub}/comments/{rid}/post_{n}/",
            "url": f"https://www.reddit.com/r/{sub}/comments/{rid}/post_{n}/",
            "over_18": False,
            "removed_by_category": None,
        },
    }


def comment_thing(n: int, *, link: int = 1, sub: str = "italy", body: str | None = None) -> dict[str, Any]:
    """The ``n``-th comment (``t1_c<n>``), replying to post ``link`` (odd n) or to the comment before it."""
    rid = f"c{n}"
    parent = f"t3_p{link}" if n % 2 or n == 0 else f"t1_c{n - 1}"
    return {
        "kind": "t1",
        "data": {
            "subreddit": sub,
            "link_id": f"t3_p{link}",
            "parent_id": parent,
            "author_fullname": "t2_9za7q",
            "body": f"Commento {n}: concordo, è un disservizio" if body is None else body,
            "name": f"t1_{rid}",
            "score": 2,
            "created_utc": float(T0 + n),
            "id": rid,
            "author": "giulia_b",
            "permalink": f"/r/{sub}/comments/p{link}/post_{link}/{rid}/",
            "link_title": f"Post {link}",
        },
    }


@dataclass
class RedditServer:
    """The server's state, served from a thread of the test process (its own event loop)."""

    budget: int = 100
    window: float = 60.0
    expires_in: int = 3600
    retry_after: str | None = "1"
    things: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"t3": [], "t1": []})
    # Scripted answers to the next listing requests: ("status", code), ("drop",), ("revoke",).
    faults: list[tuple[Any, ...]] = field(default_factory=list)
    log: list[tuple[float, str, int]] = field(default_factory=list)  # (monotonic, path, status) per listing request
    token_requests: list[int] = field(default_factory=list)  # status of each token request
    no_user_agent: int = 0
    over_budget: int = 0

    def __post_init__(self) -> None:
        self.port = free_port()
        self.tokens: dict[str, float] = {}
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/api/v1/access_token"

    def add(self, *things: dict[str, Any]) -> None:
        with self.lock:
            for thing in things:
                self.things["t1" if thing.get("kind") == "t1" else "t3"].append(thing)

    def statuses(self) -> list[int]:
        with self.lock:
            return [status for _, _, status in self.log]

    def max_per_window(self) -> int:
        """Most listing requests the server received in one of its windows."""
        with self.lock:
            counts: dict[int, int] = {}
            for at, _, _ in self.log:
                w = int((at - self.started) // self.window)
                counts[w] = counts.get(w, 0) + 1
        return max(counts.values(), default=0)

    # --- handlers -----------------------------------------------------------------------------------

    async def access_token(self, request: web.Request) -> web.Response:
        form = await request.post()
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            self.token_requests.append(401)
            return web.json_response({"message": "Unauthorized", "error": 401}, status=401)
        if form.get("grant_type") != "client_credentials":
            self.token_requests.append(200)
            return web.json_response({"error": "unsupported_grant_type"})
        token = secrets.token_hex(8)
        with self.lock:
            self.tokens[token] = time.monotonic() + self.expires_in
            self.token_requests.append(200)
        return web.json_response(
            {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in, "scope": "*"}
        )

    def _rate_headers(self, now: float) -> tuple[dict[str, str], bool]:
        """Counts this request in its window; the headers to send and whether it was over the budget."""
        window = int((now - self.started) // self.window)
        used = sum(1 for at, _, _ in self.log if int((at - self.started) // self.window) == window)
        end = self.started + (window + 1) * self.window
        headers = {
            "X-Ratelimit-Used": str(used),
            "X-Ratelimit-Remaining": f"{max(0, self.budget - used):.1f}",
            "X-Ratelimit-Reset": str(math.floor(end - now)),
        }
        return headers, used > self.budget

    async def listing(self, request: web.Request) -> web.StreamResponse:
        now = time.monotonic()
        with self.lock:
            fault = self.faults.pop(0) if self.faults else None
            self.log.append((now, request.path, 0))
            index = len(self.log) - 1
            headers, over = self._rate_headers(now)
            if not request.headers.get("User-Agent"):
                self.no_user_agent += 1

        def answer(status: int) -> None:
            with self.lock:
                self.log[index] = (now, request.path, status)

        if over:
            with self.lock:
                self.over_budget += 1
            answer(429)
            return web.json_response({"message": "Too Many Requests", "error": 429}, status=429, headers=headers)
        if fault and fault[0] == "revoke":
            with self.lock:
                self.tokens.clear()
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("bearer ").removeprefix("Bearer ")
        with self.lock:
            valid = self.tokens.get(token, 0.0) > time.monotonic()
        if not valid:
            answer(401)
            return web.json_response({"message": "Unauthorized", "error": 401}, status=401, headers=headers)
        if fault and fault[0] == "status":
            code = int(fault[1])
            answer(code)
            if code == 429 and self.retry_after is not None:
                headers = {**headers, "Retry-After": self.retry_after}
            return web.json_response({"message": "error", "error": code}, status=code, headers=headers)
        if fault and fault[0] == "drop":
            answer(-1)
            resp = web.StreamResponse(headers={"Content-Length": "5000", "Content-Type": "application/json"})
            await resp.prepare(request)
            await resp.write(b'{"kind": "Listing", "da')
            assert request.transport is not None
            request.transport.close()
            return resp
        kind = "t3" if request.match_info["what"] == "new" else "t1"
        subs = {s.lower() for s in request.match_info["subs"].split("+")}
        limit = max(1, min(100, int(request.query.get("limit", "25"))))
        with self.lock:
            things = [t for t in self.things[kind] if str(t.get("data", {}).get("subreddit", "")).lower() in subs]
        things.sort(key=lambda t: _created(t), reverse=True)
        if "after" in request.query:
            names = [t.get("data", {}).get("name") for t in things]
            after = request.query["after"]
            things = things[names.index(after) + 1 :] if after in names else []
        page, rest = things[:limit], things[limit:]
        body = {
            "kind": "Listing",
            "data": {
                "after": page[-1]["data"].get("name") if rest and page else None,
                "dist": len(page),
                "modhash": "",
                "geo_filter": "",
                "children": page,
                "before": None,
            },
        }
        answer(200)
        return web.Response(body=orjson.dumps(body), content_type="application/json", headers=headers)

    # --- the thread ---------------------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/api/v1/access_token", self.access_token)
        app.router.add_get("/r/{subs}/{what:new|comments}", self.listing)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())

    def __enter__(self) -> RedditServer:
        self._thread.start()
        assert self._ready.wait(10), "the Reddit server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def _created(thing: dict[str, Any]) -> float:
    try:
        return float(thing["data"]["created_utc"])
    except (KeyError, TypeError, ValueError):
        return 0.0
