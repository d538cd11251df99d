"""RSS 2.0 and Atom fixtures (shaped as the RSS 2.0 specification and RFC 4287 show) and a loopback feed
server with ETag / Last-Modified / 304, injectable faults (429 with Retry-After, 500s, dropped connections)."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

from aiohttp import web

from ascolto.testing import free_port

BASE = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def rss_item(
    n: int, *, guid: bool = True, author: str | None = "ufficio.stampa@comune.example (Ufficio stampa)"
) -> str:
    when = format_datetime(BASE + timedelta(minutes=n))
    return (
        "<item>"
        f"<title>Avviso {n}: lavori in via Roma</title>"
        f"<link>https://comune.example/avvisi/{n}</link>"
        "<description>&lt;p&gt;Il servizio "
        f"&lt;b&gt;{n}&lt;/b&gt; resta chiuso &amp;amp; riapre lunedì.&lt;/p&gt;</description>"
        + (f'<guid isPermaLink="false">avviso-{n}</guid>' if guid else "")
        + (f"<author>{escape(author)}</author>" if author else "")
        + f"<pubDate>{when}</pubDate>"
        "</item>"
    )


def rss_document(items: Iterable[str], *, title: str = "Comune di Esempio - Avvisi") -> bytes:
    """An RSS 2.0 channel; ``items`` newest first, as feeds list them."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{title}</title><link>https://comune.example/</link>"
        "<description>Avvisi ai cittadini</description><language>it-it</language>" + "".join(items) + "</channel></rss>"
    ).encode()


def atom_entry(n: int) -> str:
    when = (BASE + timedelta(hours=n)).isoformat().replace("+00:00", "Z")
    return (
        "<entry>"
        f"<title>Press release {n}</title>"
        f'<link href="/news/{n}"/>'
        f"<id>urn:uuid:00000000-0000-4000-8000-{n:012d}</id>"
        f"<updated>{when}</updated>"
        f'<summary type="html">&lt;p&gt;Release &lt;em&gt;{n}&lt;/em&gt; about the new service.&lt;/p&gt;</summary>'
        "<author><name>Press Office</name></author>"
        "</entry>"
    )


def atom_document(entries: Iterable[str]) -> bytes:
    """An Atom 1.0 feed (RFC 4287) with relative links resolved against xml:base."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://agency.example/" xml:lang="en">'
        "<title>Agency news</title><id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>"
        "<updated>2025-03-02T00:00:00Z</updated>" + "".join(entries) + "</feed>"
    ).encode()


@dataclass
class Feed:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    # Served before the feed itself, in order: ("status", code, retry_after) or ("drop",).
    faults: list[tuple[object, ...]] = field(default_factory=list)


class FeedServer:
    """Serves feeds on 127.0.0.1 from a thread of the test process; logs every request."""

    LAST_MODIFIED = "Sat, 01 Mar 2025 08:00:00 GMT"

    def __init__(self) -> None:
        self.feeds: dict[str, Feed] = {}
        self.log: list[tuple[str, int, str | None]] = []  # (path, status, If-None-Match sent)
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        feed = self.feeds.get(request.path)
        sent = request.headers.get("If-None-Match")
        if feed is None:
            self.log.append((request.path, 404, sent))
            return web.Response(status=404)
        if feed.faults:
            fault = feed.faults.pop(0)
            if fault[0] == "drop":
                self.log.append((request.path, 0, sent))
                resp = web.StreamResponse(headers={"Content-Length": str(len(feed.body))})
                await resp.prepare(request)
                await resp.write(feed.body[:20])
                assert request.transport is not None
                request.transport.close()
                return resp
            status, retry_after = int(str(fault[1])), fault[2]
            self.log.append((request.path, status, sent))
            headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
            return web.Response(status=status, headers=headers, text="busy")
        etag = '"' + hashlib.sha256(feed.body).hexdigest()[:16] + '"'
        if sent == etag:
            self.log.append((request.path, 304, sent))
            return web.Response(status=304, headers={"ETag": etag})
        self.log.append((request.path, 200, sent))
        headers = {"ETag": etag, "Last-Modified": self.LAST_MODIFIED, "Content-Type": feed.content_type}
        return web.Response(body=feed.body, headers=headers)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())

    def __enter__(self) -> FeedServer:
        self._thread.start()
        assert self._ready.wait(10), "the feed server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def statuses(self, path: str) -> list[int]:
        return [status for p, status, _ in self.log if p == path]
