"""Jetstream on loopback: events shaped as Jetstream's README documents them, and a WebSocket server honouring
``cursor`` (every event with ``time_us >= cursor``), with the faults a real network has."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from ascolto.testing import free_port

T0 = 1_725_911_162_329_308  # a time_us from Jetstream's README
STEP = 1_000_000  # posts one second apart, so a cursor rewound 5 s replays only the last five


def post_event(
    n: int, text: str | None = None, *, did: str = "did:plc:eygmaihciaxprqvxpfvl6flk", **record: Any
) -> dict:
    """The ``n``-th post creation, one second after the previous one."""
    return {
        "did": did,
        "time_us": T0 + n * STEP,
        "kind": "commit",
        "commit": {
            "rev": f"3l3qo2vutsw{n:03d}",
            "operation": "create",
            "collection": "app.bsky.feed.post",
            "rkey": f"3l3qo2vuowo{n:03d}",
            "record": {
                "$type": "app.bsky.feed.post",
                "text": f"post number {n}" if text is None else text,
                "createdAt": "2024-09-09T19:46:02.102Z",
                "langs": ["en"],
                **record,
            },
            "cid": "bafyreidc6sydkkbchcyg62v77wbhzvb2mvytlmsychqgwf2xojjtirmzj4",
        },
    }


def post_id(event: dict) -> str:
    return f"bluesky:{event['did']}/{event['commit']['rkey']}"


def other_events(n: int) -> list[dict]:
    """Events a post listener skips: identity, account, a post deleted, a like."""
    did = "did:plc:ufbl4k27gp6kzas5glhz7fim"
    at = T0 + n * STEP
    return [
        {
            "did": did,
            "time_us": at + 1,
            "kind": "identity",
            "identity": {
                "did": did,
                "handle": "yohenrique.bsky.social",
                "seq": 1409752997,
                "time": "2024-09-05T06:11:04.870Z",
            },
        },
        {
            "did": did,
            "time_us": at + 2,
            "kind": "account",
            "account": {"active": True, "did": did, "seq": 1409753013, "time": "2024-09-05T06:11:04.870Z"},
        },
        {
            "did": did,
            "time_us": at + 3,
            "kind": "commit",
            "commit": {
                "rev": "3l3f6nzl3cv2s",
                "operation": "delete",
                "collection": "app.bsky.feed.post",
                "rkey": "3l3dn7tku762u",
            },
        },
    ]


@dataclass
class JetstreamServer:
    """``/subscribe`` over WebSocket in a thread of its own. ``refuse`` answers the next connections with those
    HTTP statuses (429 with Retry-After); ``drop_after`` closes the first connection abruptly after that many
    messages; after the last event the connection is closed (``done`` is set), as a network blip would.

    It is also an AppView for ``com.atproto.identity.resolveHandle``: ``handles`` maps a handle to its DID, any
    other handle is answered 400 ``InvalidRequest`` as bsky.app does; ``refuse_resolve`` answers the next
    resolutions with those statuses. ``wantedDids`` is honoured, as Jetstream does."""

    messages: list[bytes]
    refuse: list[int] = field(default_factory=list)
    drop_after: int | None = None
    delay: float = 0.0
    port: int = field(default_factory=free_port)
    cursors: list[int | None] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)
    handles: dict[str, str] = field(default_factory=dict)
    refuse_resolve: list[int] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def resolve_handle(self, request: web.Request) -> web.Response:
        handle = request.query.get("handle", "")
        self.resolved.append(handle)
        if self.refuse_resolve:
            return web.json_response({"error": "Unavailable"}, status=self.refuse_resolve.pop(0))
        if handle not in self.handles:
            return web.json_response({"error": "InvalidRequest", "message": "Unable to resolve handle"}, status=400)
        return web.json_response({"did": self.handles[handle]})

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/subscribe"

    def add(self, *events: dict | bytes) -> None:
        self.messages.extend(e if isinstance(e, bytes) else orjson.dumps(e) for e in events)

    def events(self) -> list[dict]:
        """The messages that are JSON objects with a ``time_us``."""
        events = []
        for message in self.messages:
            try:
                event = orjson.loads(message)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and isinstance(event.get("time_us"), int):
                events.append(event)
        return events

    async def subscribe(self, request: web.Request) -> web.StreamResponse:
        if self.refuse:
            status = self.refuse.pop(0)
            self.statuses.append(status)
            return web.Response(status=status, headers={"Retry-After": "0.2"} if status == 429 else {})
        if request.query.getall("wantedCollections", []) != ["app.bsky.feed.post"]:
            return web.Response(status=400, text="wantedCollections")
        cursor = int(request.query["cursor"]) if "cursor" in request.query else None
        wanted = set(request.query.getall("wantedDids", []))
        self.cursors.append(cursor)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sent = 0
        for message in list(self.messages):
            try:
                time_us, did = orjson.loads(message).get("time_us"), orjson.loads(message).get("did")
            except (orjson.JSONDecodeError, AttributeError):
                time_us, did = None, None  # a malformed message is sent to every subscriber
            if wanted and did is not None and did not in wanted:
                continue
            if cursor is not None and isinstance(time_us, int) and time_us < cursor:
                continue
            if self.drop_after is not None and sent == self.drop_after:
                self.drop_after = None
                assert request.transport is not None
                request.transport.close()  # no close frame: a dropped connection
                return ws
            await ws.send_bytes(message) if sent % 2 else await ws.send_str(message.decode())
            sent += 1
            if self.delay:
                await asyncio.sleep(self.delay)
        self.done.set()
        await ws.close()
        return ws

    def __enter__(self) -> JetstreamServer:
        app = web.Application()
        app.router.add_get("/subscribe", self.subscribe)
        app.router.add_get("/xrpc/com.atproto.identity.resolveHandle", self.resolve_handle)
        self._loop = asyncio.new_event_loop()
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
