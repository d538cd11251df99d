"""Mastodon: a hashtag, the public/local timeline, or the user's mentions on one instance, live, resumable.

The streaming API (Server-Sent Events) has no catch-up, so each (re)connection first opens the stream,
then backfills from the REST timeline everything after the checkpoint, then reads the stream (which
buffered meanwhile): nothing posted during the backfill is missed. The backfill pages forward with
``min_id`` (oldest first), so the checkpoint (the highest status id published; ids are numeric strings
compared as integers) advances status by status and a connector killed mid-backfill resumes exactly.

Plain aiohttp rather than Mastodon.py: that library is synchronous (its streaming runs in a thread with
its own reconnect logic), while :func:`~connectors.live.run_live` needs an async iterator that raises
:class:`~connectors.live.SourceUnavailable`/:class:`~connectors.live.SourceRefused` so the one loop
decides on back-off and checkpoints. SSE is a few lines of parsing.

``mentions`` listens to the token's user: the ``user:notification`` stream's ``notification`` events and,
to catch up, ``GET /api/v1/notifications?types[]=mention``. Only ``mention`` notifications are kept (a
favourite, a follow, a boost are skipped), and their status is published as any status is, under
``<host>/<status id>``: a mention also seen on a timeline is one post. Here the checkpoint is the highest
*notification* id, since that is what the notifications list pages by.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from connectors.base import Rejected
from connectors.html_text import html_to_text
from connectors.live import Checkpoint, Item, LiveSource, SourceRefused, SourceUnavailable
from schemas import RawPost
from schemas.contracts import Metrics
from schemas.posts import post_id, raw_post
from schemas.timestamps import to_datetime

SOURCE = "mastodon"
TIMELINES = ("public", "local", "mentions")
PAGE = 40  # the REST timelines' maximum page size (the notifications list allows 80)
_LANG = re.compile(r"^[a-z]{2,3}$")


# --- Status JSON → RawPost -----------------------------------------------------------------------


def status_to_post(status: dict[str, Any], host: str, source: str = SOURCE) -> RawPost:
    """A Mastodon Status entity as a RawPost; ``native_id`` is ``<host>/<status id>`` so several instances
    never collide. Raises KeyError/TypeError/ValueError for a status without id, account or time."""
    shown = status["reblog"] if isinstance(status.get("reblog"), dict) else status
    account = shown["account"]
    acct = str(account["acct"])
    # A local account's acct has no domain: add the instance's, so a handle is the same from anywhere.
    handle = acct if "@" in acct else f"{acct}@{host}"
    text = html_to_text(str(shown.get("content") or ""))
    if shown.get("spoiler_text"):
        text = f"{shown['spoiler_text']}\n\n{text}".strip()
    lang = str(shown.get("language") or "").split("-")[0].lower()
    metrics: Metrics = {}
    for key, field in (("favourites_count", "likes"), ("reblogs_count", "reposts"), ("replies_count", "replies")):
        if isinstance(shown.get(key), int) and shown[key] >= 0:
            metrics[field] = shown[key]  # type: ignore[literal-required]
    reply = shown.get("in_reply_to_id")
    tags = [t["name"] for t in shown.get("tags") or [] if isinstance(t, dict) and "name" in t]
    return raw_post(
        source=source,
        native_id=f"{host}/{int(status['id'])}",
        text=text,
        created_at=shown["created_at"],
        handle=handle,
        author_id=handle,
        author_name=account.get("display_name") or None,
        followers=account.get("followers_count") if isinstance(account.get("followers_count"), int) else None,
        url=shown.get("url") or shown.get("uri"),
        lang_hint=lang if _LANG.match(lang) else None,
        in_reply_to=post_id(source, f"{host}/{reply}") if reply else None,
        metrics=metrics or None,
        raw={"instance": host, "visibility": shown.get("visibility"), "tags": tags},
    )


# --- Server-Sent Events --------------------------------------------------------------------------


class SseParser:
    """Incremental SSE: feed lines, get ``(event, data)`` when a blank line ends an event; ``:`` lines
    (Mastodon's ``:thump`` heartbeats) are comments."""

    def __init__(self) -> None:
        self.event = ""
        self.data: list[str] = []

    def feed(self, line: str) -> Iterator[tuple[str, str]]:
        line = line.rstrip("\r\n")
        if not line:
            if self.data:
                yield self.event or "message", "\n".join(self.data)
            self.event, self.data = "", []
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            self.event = value
        elif name == "data":
            self.data.append(value)


# --- the source ----------------------------------------------------------------------------------


def retry_after(headers: Any) -> float | None:
    """Seconds the server asked to wait: ``Retry-After`` (seconds or an HTTP date) or Mastodon's
    ``X-RateLimit-Reset`` (an ISO 8601 time)."""
    now = datetime.now(UTC)
    value = headers.get("Retry-After")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
            except (TypeError, ValueError):
                pass
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, (to_datetime(reset) - now).total_seconds())
        except ValueError:
            return None
    return None


class MastodonSource(LiveSource):
    """One instance's hashtag stream (``hashtag``), public/local timeline or the user's mentions, with REST backfill.

    ``token`` is an access token (read scope; ``read:notifications`` for mentions, which needs one);
    ``token_env`` only names where it came from, for the sentence a refusal prints. The checkpoint is
    ``{"since_id": "<highest status id published>"}`` (for mentions: the highest notification id).
    """

    name = SOURCE

    def __init__(
        self,
        instance: str,
        *,
        hashtag: str | None = None,
        timeline: str = "public",
        token: str | None = None,
        token_env: str = "ASCOLTO_MASTODON_TOKEN",
        idle_timeout: float = 90.0,
        connect_timeout: float = 15.0,
    ) -> None:
        parts = urlsplit(instance if "://" in instance else f"https://{instance}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{instance!r} is not an instance address like https://mastodon.social")
        if timeline not in TIMELINES:
            raise ValueError(f"timeline must be one of {', '.join(TIMELINES)}")
        self.mentions = timeline == "mentions"
        if self.mentions and hashtag:
            raise ValueError("--hashtag cannot be combined with the mentions timeline; run two connectors")
        if self.mentions and not token:
            raise SourceRefused(
                f"Listening to mentions needs the user's access token (scope read:notifications); set {token_env}."
            )
        self.base = f"{parts.scheme}://{parts.netloc}"
        self.host = parts.netloc
        self.hashtag = hashtag.lstrip("#") if hashtag else None
        self.local = timeline == "local"
        self.token, self.token_env = token, token_env
        self.scope = "read:notifications" if self.mentions else "read"
        # Mastodon sends a heartbeat every few seconds: this much silence means the connection is dead.
        self.timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=idle_timeout)

    @property
    def checkpoint_name(self) -> str:
        """One checkpoint per instance and stream, so several can run side by side."""
        what = f"tag-{self.hashtag}" if self.hashtag else ("local" if self.local else "public")
        what = "mentions" if self.mentions else what
        return re.sub(r"[^A-Za-z0-9._-]+", "_", f"{SOURCE}-{self.host}-{what}")

    def _paths(self) -> tuple[str, str, dict[str, str]]:
        if self.mentions:
            return "/api/v1/streaming/user/notification", "/api/v1/notifications", {"types[]": "mention"}
        local = {"local": "true"} if self.local else {}
        if self.hashtag:
            stream = "/api/v1/streaming/hashtag/local" if self.local else "/api/v1/streaming/hashtag"
            return stream, f"/api/v1/timelines/tag/{self.hashtag}", {"tag": self.hashtag, **local}
        stream = "/api/v1/streaming/public/local" if self.local else "/api/v1/streaming/public"
        return stream, "/api/v1/timelines/public", local

    def _check(self, resp: aiohttp.ClientResponse, what: str) -> None:
        if resp.status in (401, 403):
            raise SourceRefused(
                f"{self.host} refused the access token ({resp.status}) for {what}; "
                f"set {self.token_env} to a valid token with the {self.scope} scope."
            )
        if resp.status == 404:
            raise SourceRefused(f"{self.host} has no {what} (404); check --instance points to a Mastodon server.")
        if resp.status == 429 or resp.status >= 500:
            raise SourceUnavailable(f"{what} answered {resp.status}", retry_after(resp.headers))
        if resp.status != 200:
            raise SourceRefused(f"{self.host} answered {resp.status} for {what}; check the instance and options.")

    def _entry(self, raw: bytes, checkpoint: int) -> tuple[Item | None, int | None]:
        """The item of one stream event's or listed entity's JSON (None: a notification that is not a mention),
        and its id when it has one: a status's, or for mentions the notification's."""
        return self._mention(raw, checkpoint) if self.mentions else self._item(raw, checkpoint)

    def _mention(self, raw: bytes, checkpoint: int) -> tuple[Item | None, int | None]:
        try:
            note = orjson.loads(raw)
            nid = int(note["id"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            return Item(Rejected(raw, f"not a Mastodon notification ({type(exc).__name__}: {exc})")), None
        if note.get("type") != "mention":
            return None, nid  # a favourite, a boost, a follow...: nothing said
        try:
            post: RawPost | Rejected = status_to_post(note["status"], self.host)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            post = Rejected(raw, f"not a Mastodon mention ({type(exc).__name__}: {exc})")
        return Item(post, {"since_id": str(max(nid, checkpoint))}), nid

    def _item(self, raw: bytes, checkpoint: int) -> tuple[Item, int | None]:
        """An Item for one status's JSON, and its id when it has one (a status that cannot become a post
        still moves the checkpoint past it: it went to the dead-letter topic)."""
        sid: int | None = None
        try:
            status = orjson.loads(raw)
            sid = int(status["id"])
            post: RawPost | Rejected = status_to_post(status, self.host)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
            post = Rejected(raw, f"not a Mastodon status ({type(exc).__name__}: {exc})")
        if sid is None:
            return Item(post), None
        return Item(post, {"since_id": str(max(sid, checkpoint))}), sid

    async def stream(self, checkpoint: Checkpoint) -> AsyncIterator[Item]:
        since = int(checkpoint.get("since_id") or 0)
        stream_path, timeline_path, params = self._paths()
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        try:
            # A status can be long: SSE lines up to 4 MiB.
            async with aiohttp.ClientSession(
                self.base, timeout=self.timeout, headers=headers, read_bufsize=4 * 2**20
            ) as session:
                # The user stream takes no filter: the notifications list's types[] is for the backfill only.
                stream_params = {} if self.mentions else params
                accept = {"Accept": "text/event-stream"}
                async with session.get(stream_path, params=stream_params, headers=accept) as live:
                    self._check(live, "the streaming API")
                    recent: deque[int] = deque(maxlen=5000)
                    seen: set[int] = set()
                    # Backfill while the stream buffers: what is posted meanwhile arrives on the stream.
                    if since:
                        async for item, sid in self._backfill(session, timeline_path, params, since):
                            if sid is not None:
                                since = max(since, sid)
                                recent.append(sid)
                                seen.add(sid)
                            yield item
                    wanted = ("notification",) if self.mentions else ("update", "status.update")
                    sse = SseParser()
                    async for line in live.content:
                        for event, data in sse.feed(line.decode("utf-8", "replace")):
                            if event not in wanted:
                                continue  # delete, notification, filters_changed...
                            entry, sid = self._entry(data.encode(), since)
                            if sid is not None:
                                if event != "status.update" and sid in seen:
                                    continue  # already published by the backfill
                                since = max(since, sid)
                            if entry is not None:
                                yield entry
                    raise SourceUnavailable("the stream was closed by the server")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:  # ValueError: a line over the limit
            raise SourceUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None

    async def _backfill(
        self, session: aiohttp.ClientSession, path: str, params: dict[str, str], since: int
    ) -> AsyncIterator[tuple[Item, int | None]]:
        """Statuses (or notifications) after ``since``, oldest first, a page at a time (``min_id`` pages forward)."""
        query = {k: v for k, v in params.items() if k != "tag"}
        what = "the notifications" if self.mentions else "the timeline"
        cursor = since
        while True:
            async with session.get(path, params={**query, "min_id": str(cursor), "limit": str(PAGE)}) as resp:
                self._check(resp, what)
                page = await resp.read()
            try:
                statuses = orjson.loads(page)
                if not isinstance(statuses, list):
                    raise TypeError("not a list")
            except (orjson.JSONDecodeError, TypeError) as exc:
                raise SourceUnavailable(f"{what} answered something not a list ({exc})") from None
            if not statuses:
                return
            good = [s for s in statuses if isinstance(s, dict) and str(s.get("id", "")).isdigit()]
            for bad in (s for s in statuses if s not in good):
                kind = "notification" if self.mentions else "status"
                yield Item(Rejected(orjson.dumps(bad), f"not a Mastodon {kind} (no numeric id)")), None
            if not good:
                return
            good.sort(key=lambda s: int(s["id"]))
            if int(good[-1]["id"]) <= cursor:
                return  # a server ignoring min_id: the page holds nothing new, and paging on would never end
            for entity in good:
                entry, sid = self._entry(orjson.dumps(entity), cursor)
                cursor = max(cursor, sid or 0)
                if entry is not None:
                    yield entry, sid
