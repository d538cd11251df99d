"""Bluesky through Jetstream: posts as they are created, resumable from a ``time_us`` cursor.

Jetstream (https://github.com/bluesky-social/jetstream) serves the network's commits as JSON over a
WebSocket: ``GET /subscribe?wantedCollections=app.bsky.feed.post&cursor=<time_us>``. Each event carries
``time_us``, the position to resume from; the checkpoint is the ``time_us`` of the last item published.
On every (re)connect the cursor is rewound a few seconds, as Jetstream advises, because events around
the cursor may not have been delivered in order: what that replays has the same post ids, so the index
never holds it twice.

Filters are applied here, on the client: keywords (case-insensitive, anywhere in the text) and authors.
Jetstream names authors by DID; a ``--handle`` is resolved to its DID once at start through an
AppView's ``com.atproto.identity.resolveHandle`` (which needs the network). Only new posts are listened
to: deletes, edits, identity and account events are skipped, and so are posts without text (images only).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import aiohttp
import orjson

from connectors.base import Rejected
from connectors.live import Checkpoint, Item, LiveSource, SourceRefused, SourceUnavailable
from schemas import RawPost
from schemas.posts import post_id, raw_post
from schemas.timestamps import to_rfc3339

log = logging.getLogger(__name__)

DEFAULT_URL = "wss://jetstream2.us-east.bsky.network/subscribe"
DEFAULT_RESOLVER = "https://public.api.bsky.app"
POST_COLLECTION = "app.bsky.feed.post"
SOURCE = "bluesky"
REWIND_US = 5_000_000  # Jetstream's advice: resume a few seconds before the last event seen
MAX_SERVER_DIDS = 10_000  # Jetstream's limit on wantedDids; beyond it the filter is client-side only


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    try:
        return max(0.0, float((headers or {}).get("Retry-After", "")))
    except ValueError:
        return None


def _lang(langs: object) -> str | None:
    """The primary subtag of the first BCP 47 tag (``pt-BR`` -> ``pt``), when it is a plain ISO 639 code."""
    if isinstance(langs, list) and langs and isinstance(langs[0], str):
        primary = langs[0].split("-", 1)[0].lower()
        if 2 <= len(primary) <= 3 and primary.isascii() and primary.isalpha():
            return primary
    return None


def _post_ref(uri: object) -> str | None:
    """An ``at://<did>/app.bsky.feed.post/<rkey>`` reference as an ascolto post id (other URIs as they are)."""
    if not isinstance(uri, str) or not uri:
        return None
    parts = uri.removeprefix("at://").split("/")
    if uri.startswith("at://") and len(parts) == 3 and parts[1] == POST_COLLECTION:
        return post_id(SOURCE, f"{parts[0]}/{parts[2]}")
    return uri


def _malformed(did: object, rkey: object, time_us: object, record: object) -> str | None:
    """What a post event lacks to become a post (None: nothing)."""
    if not isinstance(did, str) or not did:
        return "has no did"
    if not isinstance(rkey, str) or not rkey:
        return "has no rkey"
    if not isinstance(time_us, int):
        return "has no time_us"
    if not isinstance(record, dict):
        return "has no record object"
    if not isinstance(record.get("text"), str):
        return "has a record whose text is not a string"
    return None


class BlueskySource(LiveSource):
    """New Bluesky posts from a Jetstream endpoint, optionally only those with a keyword or by some authors."""

    name = SOURCE

    def __init__(
        self,
        *,
        url: str = DEFAULT_URL,
        keywords: Iterable[str] = (),
        dids: Iterable[str] = (),
        handles: Iterable[str] = (),
        resolver: str = DEFAULT_RESOLVER,
        rewind_us: int = REWIND_US,
        heartbeat: float = 30.0,
        connect_timeout: float = 30.0,
    ) -> None:
        self.url = url
        self.keywords = [k.casefold() for k in keywords if k.strip()]
        self.handles = [h.strip().lstrip("@").lower() for h in handles if h.strip()]
        self.resolver = resolver.rstrip("/")
        self.rewind_us = rewind_us
        self.heartbeat = heartbeat
        self.connect_timeout = connect_timeout
        # DID -> the handle the user named it by (the post's author handle); a bare --did keeps the DID.
        self.authors: dict[str, str] = {d.strip(): d.strip() for d in dids if d.strip()}
        self._resolved = not self.handles

    # --- mapping: one Jetstream message -> an item, or None when it is not a post we listen to ---------------
    def item_of(self, message: str | bytes, floor_us: int = 0) -> Item | None:
        """The item of one Jetstream message; None for events that are not new posts or do not pass the filters.

        ``floor_us`` keeps the checkpoint from going back while a rewound cursor replays older events.
        """
        original = message.encode() if isinstance(message, str) else message
        try:
            event = orjson.loads(original)
        except orjson.JSONDecodeError as exc:
            return Item(Rejected(original, f"the Jetstream message is not JSON ({exc})"))
        if not isinstance(event, dict):
            return Item(Rejected(original, "the Jetstream message is not a JSON object"))
        time_us = event.get("time_us")
        checkpoint = {"time_us": max(time_us, floor_us)} if isinstance(time_us, int) else None
        commit = event.get("commit")
        if event.get("kind") != "commit" or not isinstance(commit, dict):
            return None  # identity and account events
        if commit.get("collection") != POST_COLLECTION or commit.get("operation") != "create":
            return None  # deletes and updates of posts; other collections
        did, rkey, record = event.get("did"), commit.get("rkey"), commit.get("record")
        if self.authors and did not in self.authors:
            return None
        problem = _malformed(did, rkey, time_us, record)
        if problem:
            return Item(Rejected(original, f"the Jetstream post event {problem}"), checkpoint)
        assert isinstance(did, str) and isinstance(rkey, str) and isinstance(record, dict) and isinstance(time_us, int)
        text: str = record["text"]
        if not text.strip():
            return None  # images or a quote without words: nothing to listen to
        if self.keywords and not any(k in text.casefold() for k in self.keywords):
            return None
        return Item(self._post(did, rkey, record, commit, time_us), checkpoint)

    def _post(self, did: str, rkey: str, record: dict[str, Any], commit: dict[str, Any], time_us: int) -> RawPost:
        raw = self._raw(record, commit, time_us)
        created_at: object = record.get("createdAt")
        try:
            to_rfc3339(created_at)
        except ValueError:
            # createdAt is what the author's app claims; a broken one must not lose the post: take the
            # time Jetstream saw it, and keep the claim in raw.
            raw["bad_created_at"] = str(created_at)[:200]
            created_at = time_us / 1_000_000
        reply = record.get("reply")
        parent = reply.get("parent") if isinstance(reply, dict) else None
        return raw_post(
            source=SOURCE,
            native_id=f"{did}/{rkey}",
            text=record["text"],
            created_at=created_at,
            handle=self.authors.get(did, did),
            author_id=did,
            url=f"https://bsky.app/profile/{did}/post/{rkey}",
            lang_hint=_lang(record.get("langs")),
            in_reply_to=_post_ref(parent.get("uri")) if isinstance(parent, dict) else None,
            raw=raw,
        )

    @staticmethod
    def _raw(record: dict[str, Any], commit: dict[str, Any], time_us: int) -> dict[str, Any]:
        raw: dict[str, Any] = {"time_us": time_us}
        if isinstance(commit.get("cid"), str):
            raw["cid"] = commit["cid"]
        reply = record.get("reply")
        if isinstance(reply, dict) and isinstance(reply.get("root"), dict):
            raw["thread"] = _post_ref(reply["root"].get("uri"))  # the conversation this post belongs to
        embed = record.get("embed")
        quoted = embed.get("record") if isinstance(embed, dict) else None
        if isinstance(quoted, dict) and isinstance(quoted.get("record"), dict):  # recordWithMedia
            quoted = quoted["record"]
        if isinstance(quoted, dict) and isinstance(quoted.get("uri"), str):
            raw["quotes"] = _post_ref(quoted["uri"])
        return raw

    # --- the network -------------------------------------------------------------------------------------------
    async def _resolve_handles(self, session: aiohttp.ClientSession) -> None:
        for handle in self.handles:
            endpoint = f"{self.resolver}/xrpc/com.atproto.identity.resolveHandle"
            try:
                async with session.get(endpoint, params={"handle": handle}) as resp:
                    if resp.status == 429 or resp.status >= 500:
                        raise SourceUnavailable(
                            f"resolving @{handle} answered HTTP {resp.status}", _retry_after(resp.headers)
                        )
                    body = await resp.json(content_type=None) if resp.status == 200 else None
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise SourceUnavailable(f"cannot resolve @{handle} at {self.resolver} ({exc})") from None
            did = body.get("did") if isinstance(body, dict) else None
            if not isinstance(did, str) or not did.startswith("did:"):
                raise SourceRefused(
                    f"The Bluesky handle @{handle} does not resolve to an account at {self.resolver}; "
                    "check --handle, or give the account's --did."
                )
            self.authors[did] = handle
        self._resolved = True

    def _params(self, checkpoint: Checkpoint) -> list[tuple[str, str]]:
        params = [("wantedCollections", POST_COLLECTION)]
        if 0 < len(self.authors) <= MAX_SERVER_DIDS:
            params += [("wantedDids", did) for did in self.authors]
        cursor = checkpoint.get("time_us")
        if isinstance(cursor, int) and cursor > 0:
            params.append(("cursor", str(max(1, cursor - self.rewind_us))))
        return params

    async def stream(self, checkpoint: Checkpoint) -> AsyncIterator[Item]:
        floor = checkpoint.get("time_us")
        floor_us = floor if isinstance(floor, int) else 0
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            if not self._resolved:
                await self._resolve_handles(session)
            try:
                ws = await session.ws_connect(self.url, params=self._params(checkpoint), heartbeat=self.heartbeat)
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status == 429 or exc.status >= 500:
                    raise SourceUnavailable(
                        f"Jetstream answered HTTP {exc.status}", _retry_after(exc.headers)
                    ) from None
                raise SourceRefused(
                    f"Jetstream at {self.url} refused the subscription (HTTP {exc.status}); "
                    "check --url (it ends in /subscribe)."
                ) from None
            except aiohttp.InvalidURL:
                raise SourceRefused(f"{self.url} is not a WebSocket URL; give --url wss://host/subscribe.") from None
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise SourceUnavailable(f"cannot connect to {self.url} ({exc})") from None
            async with ws:
                try:
                    async for msg in ws:
                        if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                            item = self.item_of(msg.data, floor_us)
                            if item is not None:
                                yield item
                        elif msg.type == aiohttp.WSMsgType.ERROR:
                            raise SourceUnavailable(f"the Jetstream connection failed ({ws.exception()})")
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    raise SourceUnavailable(f"the Jetstream connection failed ({exc})") from None
            raise SourceUnavailable(f"Jetstream closed the connection (code {ws.close_code})")
