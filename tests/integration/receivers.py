"""Alert receivers that run in the test process: a signature-checking webhook server and an SMTP server."""

from __future__ import annotations

import asyncio
import email
import threading
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import orjson
from aiohttp import web

from streams.alerting import signing


class Receiver:
    """A webhook receiver on ``port`` in its own thread; keeps the bodies whose signature (by ``secret``) is genuine."""

    def __init__(self, port: int, secret: str) -> None:
        self.port = port
        self.secret = secret
        self.bodies: list[dict[str, Any]] = []
        self.delivery_ids: list[str] = []
        self.rejected = 0
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not signing.verify(self.secret.encode(), body, request.headers):
            self.rejected += 1
            return web.Response(status=401)
        self.bodies.append(orjson.loads(body))
        self.delivery_ids.append(request.headers[signing.DELIVERY_ID_HEADER])
        return web.Response(status=204)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> Receiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def of(self, alert_id: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies if b.get("id") == alert_id]


class Mailbox:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
        return "250 OK"

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
