"""RSS and Atom feeds as a live source: many feeds, polled with conditional GETs, entries de-duplicated.

Each feed is fetched with aiohttp every ``every`` seconds, sending the ``ETag`` and ``Last-Modified`` it
last answered (a 304 means nothing new), and parsed with feedparser. An entry is told apart by its guid
(Atom ``id``), else its link; its post id is a hash of the feed URL and that key, so ids survive restarts.
The checkpoint keeps, per feed, the validators and the keys of the last entries seen; the validators of a
fetch are only checkpointed with its last new entry, so a connector killed half-way through a feed
fetches it again in full (and skips what it already published).

A feed that answers 429/5xx or cannot be reached waits (its ``Retry-After`` honoured) while the other
feeds go on; a feed that refuses us (401/403, or 404/410 before it ever answered) stops the source with
one sentence naming it. A document that is not a feed, and an entry with no text, become dead letters.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import feedparser
from yarl import URL

from connectors.base import Rejected
from connectors.html_text import html_to_text
from connectors.live import Checkpoint, Item, LiveSource, SourceRefused, SourceUnavailable
from schemas import RawPost
from schemas.posts import raw_post

log = logging.getLogger(__name__)

USER_AGENT = "ascolto-rss/0.1 (+https://github.com/ascolto/ascolto)"
MAX_FEED_BYTES = 10 * 1024 * 1024


def strip_html(markup: str) -> str:
    """The text of an HTML fragment, whitespace collapsed."""
    return html_to_text(markup, one_line=True)


def entry_key(entry: Any) -> str | None:
    """What tells an entry apart: its guid / Atom id, else its link."""
    return str(entry.get("id") or entry.get("link") or "") or None


def public_url(url: str) -> str:
    """The URL without credentials: what logs, checkpoints, post ids and messages may show."""
    try:
        return str(URL(url).with_user(None))
    except ValueError:
        return url


def native_id(feed_url: str, key: str) -> str:
    """A stable id for an entry: the same feed and guid give the same id in every run."""
    return hashlib.sha256(f"{feed_url}\n{key}".encode()).hexdigest()[:32]


def _lang(code: object) -> str | None:
    prefix = str(code or "").split("-")[0].split("_")[0].strip().lower()
    return prefix if prefix.isalpha() and 2 <= len(prefix) <= 3 else None


def entry_to_post(feed_url: str, entry: Any, feed: Any, *, source: str = "rss") -> RawPost | Rejected:
    """A feedparser entry as a RawPost, or a :class:`Rejected` saying why it cannot be one."""
    key = entry_key(entry)
    if key is None:
        return Rejected(_entry_bytes(entry), "the feed entry has neither a guid/id nor a link to tell it apart")
    title = strip_html(str(entry.get("title") or ""))
    body = entry.get("summary") or ""
    if not body and entry.get("content"):
        body = entry["content"][0].get("value") or ""
    summary = strip_html(str(body))
    text = "\n\n".join(part for part in (title, summary) if part)
    if not text:
        return Rejected(_entry_bytes(entry), "the feed entry has neither a title nor a summary")
    stamp = entry.get("published_parsed") or entry.get("updated_parsed")
    author = str(entry.get("author") or "").strip()
    handle = author or str(feed.get("title") or "").strip() or "unknown"
    return raw_post(
        source=source,
        native_id=native_id(feed_url, key),
        text=text,
        created_at=None if stamp is None else calendar.timegm(stamp),
        handle=handle[:256],
        author_name=author[:512] or None,
        url=str(entry.get("link")) if entry.get("link") else None,
        lang_hint=_lang(entry.get("language") or feed.get("language")),
        raw={"feed": feed_url, "guid": key},
    )


def _entry_bytes(entry: Any) -> bytes:
    return json.dumps(entry, default=str, sort_keys=True).encode()


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds, from either of its forms (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass
class _Fetched:
    body: bytes
    content_type: str
    etag: str | None
    modified: str | None


class _NotModified:
    pass


class _Away(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class RssSource(LiveSource):
    """Many RSS/Atom feeds, each polled every ``every`` seconds; ``once`` polls each feed successfully once
    and ends (for tests and cron-style runs)."""

    def __init__(
        self,
        urls: Sequence[str],
        *,
        every: float = 300.0,
        once: bool = False,
        name: str = "rss",
        keep: int = 500,
        timeout: float = 30.0,
        concurrency: int = 8,
    ) -> None:
        if not urls:
            raise ValueError("at least one feed URL is needed")
        # Feeds are known by their URL without credentials; only the request carries them.
        self._real = {public_url(u): u for u in urls}
        self.urls = list(self._real)
        self.every, self.once, self.name, self.keep = every, once, name, keep
        self.timeout, self.concurrency = timeout, concurrency
        self._due: dict[str, float] = {}  # monotonic time each feed is next polled
        self._done: set[str] = set()  # feeds polled successfully (once mode)

    async def stream(self, checkpoint: Checkpoint) -> AsyncIterator[Item]:
        feeds: dict[str, dict[str, Any]] = dict(checkpoint.get("feeds") or {})
        limit = asyncio.Semaphore(self.concurrency)
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT}) as session:

            async def fetch(url: str) -> _Fetched | _NotModified | _Away:
                async with limit:
                    try:
                        return await self._fetch(session, url, feeds.get(url))
                    except _Away as away:
                        return away

            while True:
                todo = [u for u in self.urls if u not in self._done]
                if not todo:
                    return
                now = time.monotonic()
                due = [u for u in todo if self._due.get(u, 0.0) <= now]
                if not due:
                    await asyncio.sleep(min(self._due[u] for u in todo) - now)
                    continue
                results = await asyncio.gather(*(fetch(u) for u in due))
                away: _Away | None = None
                for url, result in zip(due, results, strict=True):
                    if isinstance(result, _Away):
                        # This feed waits for what it asked; run_live's back-off spaces the retries.
                        self._due[url] = time.monotonic() + (result.retry_after or 0.0)
                        away = away or result
                        continue
                    self._due[url] = time.monotonic() + self.every
                    if self.once:
                        self._done.add(url)
                    if isinstance(result, _Fetched):
                        for item in self._items(url, result, feeds):
                            yield item
                if away is not None:
                    raise SourceUnavailable(away.reason)

    async def _fetch(self, session: aiohttp.ClientSession, url: str, state: dict[str, Any] | None) -> Any:
        headers = {}
        if state and state.get("etag"):
            headers["If-None-Match"] = state["etag"]
        if state and state.get("modified"):
            headers["If-Modified-Since"] = state["modified"]
        try:
            async with session.get(self._real[url], headers=headers) as resp:
                if resp.status == 304:
                    return _NotModified()
                if resp.status == 429 or resp.status >= 500:
                    raise _Away(f"{url} answered {resp.status}", _retry_after(resp.headers.get("Retry-After")))
                if resp.status in (401, 403) or (resp.status >= 400 and state is None):
                    raise SourceRefused(
                        f"The feed {url} answered {resp.status} {resp.reason or ''}".rstrip()
                        + "; check the URL (and any credentials in it) or leave the feed out."
                    )
                if resp.status >= 400:
                    raise _Away(f"{url} answered {resp.status}")
                body = bytearray()
                async for chunk in resp.content.iter_chunked(65536):
                    body += chunk
                    if len(body) > MAX_FEED_BYTES:
                        break
                return _Fetched(
                    bytes(body),
                    resp.headers.get("Content-Type", ""),
                    resp.headers.get("ETag"),
                    resp.headers.get("Last-Modified"),
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            problem = str(exc).replace(self._real[url], url)
            raise _Away(f"{url} cannot be reached ({type(exc).__name__}: {problem})") from None

    def _items(self, url: str, fetched: _Fetched, feeds: dict[str, dict[str, Any]]) -> Iterator[Item]:
        """The new entries of a fetched feed, oldest first, each with the checkpoint as of it."""
        old = feeds.get(url) or {}
        validators = {"etag": fetched.etag, "modified": fetched.modified}
        if len(fetched.body) > MAX_FEED_BYTES:
            yield from self._bad(url, fetched.body[:65536], f"the feed is larger than {MAX_FEED_BYTES} bytes", feeds)
            return
        parsed = feedparser.parse(
            fetched.body, response_headers={"content-location": url, "content-type": fetched.content_type}
        )
        if not parsed.get("version") and not parsed.entries:
            problem = parsed.get("bozo_exception")
            yield from self._bad(url, fetched.body, f"{url} is not an RSS or Atom feed ({problem})", feeds)
            return
        seen: list[str] = list(old.get("seen") or [])
        known = set(seen)
        fresh = []
        for entry in reversed(parsed.entries):  # feeds list the newest first
            key = entry_key(entry) or hashlib.sha256(_entry_bytes(entry)).hexdigest()
            if key not in known:
                known.add(key)
                fresh.append((key, entry))
        keep = max(self.keep, len(parsed.entries))
        if not fresh:
            feeds[url] = {**old, **validators}  # in memory; saved with the next item
            return
        for i, (key, entry) in enumerate(fresh):
            seen = [*seen[-(keep - 1) :], key]
            state = {**old, "seen": seen}
            if i == len(fresh) - 1:
                state.update(validators)
            feeds[url] = state
            post = entry_to_post(url, entry, parsed.feed, source=self.name)
            yield Item(post, {"feeds": dict(feeds)})

    def _bad(self, url: str, body: bytes, reason: str, feeds: dict[str, dict[str, Any]]) -> Iterator[Item]:
        """A document that is not a feed is dead-lettered once, not at every poll."""
        digest = hashlib.sha256(body).hexdigest()
        old = feeds.get(url) or {}
        if old.get("bad") == digest:
            return
        log.warning("%s", reason)
        feeds[url] = {**old, "bad": digest}
        yield Item(Rejected(body, reason), {"feeds": dict(feeds)})
