"""A Mastodon-compatible loopback server: the hashtag streaming API (SSE) and the REST tag timeline; the user's
notification stream (``event: notification``) and ``GET /api/v1/notifications`` (``types[]``, ``min_id``...).

It speaks the documented shapes (Status entities, ``event: update``/``delete``, ``:thump`` heartbeats,
``since_id``/``min_id``/``max_id``/``limit``, 401 for a bad token, 429 with ``Retry-After``) and can
misbehave on demand: answer the next connections with given statuses, or drop a stream mid-way.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import orjson
from aiohttp import web

from ascolto.testing import free_port

TOKEN = "good-token"
STATUSES_ONLY_TOKEN = "read-statuses-token"  # a token without read:notifications: 403 on notifications
HOST_TAG = "ascolto"


def status(sid: int, text: str, *, acct: str = "anna", reply_to: int | None = None) -> dict[str, Any]:
    """A Status entity as the Mastodon API documents it (the fields ascolto reads, and a few it does not)."""
    return {
        "id": str(sid),
        "created_at": "2026-11-29T10:00:00.000Z",
        "in_reply_to_id": None if reply_to is None else str(reply_to),
        "in_reply_to_account_id": None,
        "sensitive": False,
        "spoiler_text": "",
        "visibility": "public",
        "language": "it",
        "uri": f"https://remote.example/users/{acct}/statuses/{sid}",
        "url": f"https://remote.example/@{acct}/{sid}",
        "replies_count": 1,
        "reblogs_count": 2,
        "favourites_count": 3,
        "content": f'<p>{text} <a href="https://x.example/tags/ascolto" class="hashtag">#<span>ascolto</span></a></p>',
        "reblog": None,
        "account": {
            "id": "1",
            "username": acct,
            "acct": acct,
            "display_name": acct.title(),
            "followers_count": 42,
            "url": f"https://remote.example/@{acct}",
        },
        "media_attachments": [],
        "mentions": [],
        "tags": [{"name": HOST_TAG, "url": "https://remote.example/tags/ascolto"}],
    }


def notification(nid: int, kind: str, entity: dict[str, Any] | None = None, acct: str = "bob") -> dict[str, Any]:
    """A Notification entity as the Mastodon API documents it; ``status`` only for kinds that have one."""
    account = {"id": "2", "username": acct, "acct": acct, "display_name": acct.title(), "followers_count": 7}
    note: dict[str, Any] = {
        "id": str(nid),
        "type": kind,
        "created_at": "2026-11-29T10:00:00.000Z",
        "account": account,
    }
    if entity is not None:
        note["status"] = entity
    return note


class FakeMastodon:
    """The server's state; :meth:`post` publishes a status to the timeline and to every open stream."""

    def __init__(self) -> None:
        self.timeline: list[dict[str, Any]] = []
        self.listeners: list[asyncio.Queue[bytes | None]] = []
        self.next_answers: list[int] = []  # status codes for the next stream connections (429, 500...)
        self.retry_after = "0.3"
        self.drop_after: int | None = None  # events one stream sends before the server cuts it
        self.attempts: list[tuple[float, int]] = []  # (monotonic time, status answered) per stream connection
        self.timeline_requests = 0
        self.notifications: list[dict[str, Any]] = []
        self.notification_listeners: list[asyncio.Queue[bytes | None]] = []
        self.notification_requests: list[dict[str, Any]] = []  # the query of each GET /api/v1/notifications

    def post(self, entity: dict[str, Any]) -> None:
        self.timeline.append(entity)
        self.send(orjson.dumps(entity))

    def send(self, data: bytes, event: str = "update") -> None:
        for queue in self.listeners if event != "notification" else self.notification_listeners:
            queue.put_nowait(b"event: " + event.encode() + b"\ndata: " + data + b"\n\n")

    def notify(self, entity: dict[str, Any]) -> None:
        """A notification for the token's user: kept for the REST list and sent on every notification stream."""
        self.notifications.append(entity)
        self.send(orjson.dumps(entity), "notification")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/streaming/hashtag", self.streaming)
        app.router.add_get("/api/v1/timelines/tag/{tag}", self.tag_timeline)
        app.router.add_get("/api/v1/streaming/user/notification", self.notification_streaming)
        app.router.add_get("/api/v1/notifications", self.notifications_list)
        return app

    @staticmethod
    def authorised(request: web.Request) -> bool:
        return request.headers.get("Authorization") in (f"Bearer {TOKEN}", f"Bearer {STATUSES_ONLY_TOKEN}")

    @staticmethod
    def refusal(request: web.Request, needs_notifications: bool = False) -> web.Response | None:
        """Mastodon's 401 for an unknown token, 403 for one without the scope the endpoint needs."""
        given = request.headers.get("Authorization")
        if given not in (f"Bearer {TOKEN}", f"Bearer {STATUSES_ONLY_TOKEN}"):
            return web.json_response({"error": "The access token is invalid"}, status=401)
        if needs_notifications and given != f"Bearer {TOKEN}":
            return web.json_response({"error": "This action is outside the authorized scopes"}, status=403)
        return None

    async def notification_streaming(self, request: web.Request) -> web.StreamResponse:
        return await self.streaming(request, self.notification_listeners, needs_notifications=True)

    async def streaming(
        self,
        request: web.Request,
        listeners: list[asyncio.Queue[bytes | None]] | None = None,
        needs_notifications: bool = False,
    ) -> web.StreamResponse:
        listeners = self.listeners if listeners is None else listeners
        refused = self.refusal(request, needs_notifications)
        if refused is not None:
            self.attempts.append((time.monotonic(), refused.status))
            return refused
        if self.next_answers:
            code = self.next_answers.pop(0)
            self.attempts.append((time.monotonic(), code))
            headers = {"Retry-After": self.retry_after} if code == 429 else {}
            return web.json_response({"error": "Too many requests"}, status=code, headers=headers)
        self.attempts.append((time.monotonic(), 200))
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        listeners.append(queue)
        sent = 0
        try:
            await resp.write(b":)\n")
            while True:
                try:
                    chunk = await asyncio.wait_for(queue.get(), timeout=1.0)
                except TimeoutError:
                    await resp.write(b":thump\n")
                    continue
                if chunk is None:
                    break
                await resp.write(chunk)
                sent += 1
                if self.drop_after is not None and sent >= self.drop_after:
                    self.drop_after = None
                    break  # the server cuts the stream: what was still queued is never streamed
        except ConnectionResetError:
            pass  # the client went away (killed, stopped)
        finally:
            listeners.remove(queue)
        if request.transport is not None:
            request.transport.close()  # no clean end of the chunked body: a dropped connection
        return resp

    async def tag_timeline(self, request: web.Request) -> web.Response:
        self.timeline_requests += 1
        if not self.authorised(request):
            return web.json_response({"error": "The access token is invalid"}, status=401)
        return self.page(request, self.timeline, 40)

    async def notifications_list(self, request: web.Request) -> web.Response:
        self.notification_requests.append({k: request.query.getall(k) for k in request.query})
        refused = self.refusal(request, needs_notifications=True)
        if refused is not None:
            return refused
        types = request.query.getall("types[]", [])
        entities = [n for n in self.notifications if not types or n.get("type") in types]
        return self.page(request, entities, 80)

    @staticmethod
    def page(request: web.Request, entities: list[dict[str, Any]], most: int) -> web.Response:
        """Mastodon's paging: newest first; ``max_id``, ``since_id`` (newest page), ``min_id`` (page right after)."""
        limit = min(most, int(request.query.get("limit", "20")))
        ids = [(int(s["id"]) if str(s.get("id", "")).isdigit() else 0, s) for s in entities]
        ids.sort(key=lambda p: p[0])
        if "max_id" in request.query:
            ids = [p for p in ids if p[0] < int(request.query["max_id"])]
        if "min_id" in request.query:  # the page right after min_id
            ids = [p for p in ids if p[0] > int(request.query["min_id"])][:limit]
        elif "since_id" in request.query:  # the newest page after since_id
            ids = [p for p in ids if p[0] > int(request.query["since_id"])][-limit:]
        else:
            ids = ids[-limit:]
        return web.Response(body=orjson.dumps([s for _, s in reversed(ids)]), content_type="application/json")


async def serve(fake: FakeMastodon, port: int) -> web.AppRunner:
    runner = web.AppRunner(fake.app(), shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


class ThreadedMastodon:
    """The fake server on its own event loop in a thread, for tests that run the CLI as a subprocess."""

    def __init__(self) -> None:
        self.fake = FakeMastodon()
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadedMastodon:
        self.thread.start()
        self.runner = asyncio.run_coroutine_threadsafe(serve(self.fake, self.port), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def post(self, entity: dict[str, Any]) -> None:
        asyncio.run_coroutine_threadsafe(self._post(entity), self.loop).result(10)

    async def _post(self, entity: dict[str, Any]) -> None:
        self.fake.post(entity)

    def notify(self, entity: dict[str, Any]) -> None:
        asyncio.run_coroutine_threadsafe(self._notify(entity), self.loop).result(10)

    async def _notify(self, entity: dict[str, Any]) -> None:
        self.fake.notify(entity)

    def streaming(self) -> bool:
        return bool(asyncio.run_coroutine_threadsafe(self._streaming(), self.loop).result(10))

    async def _streaming(self) -> int:
        return len(self.fake.listeners) + len(self.fake.notification_listeners)
