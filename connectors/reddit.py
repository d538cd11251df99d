"""Reddit: subreddits' new posts and comments through OAuth, within the 100-queries-per-minute budget.

Application-only OAuth (the client-credentials grant): the app's client id and secret buy a bearer token
at ``/api/v1/access_token``, cached and renewed before it expires (a 401 on a listing renews it once).
Every request carries the User-Agent Reddit asks for (``<platform>:<app id>:<version> (by /u/<user>)``).

Polling, not ``before=``: each poll reads ``/r/a+b+c/new`` (posts, ``t3``) and ``/r/a+b+c/comments``
(comments, ``t1``) newest first, all subreddits in one query. ``before=<fullname>`` is unreliable (a deleted
or removed anchor returns an empty listing forever), so a poll instead keeps every thing it has not seen
that is newer than the newest one published minus ``overlap`` seconds, and pages on with ``after`` only
while a whole page is new (at most ``max_pages``; Reddit lists about 1000 things). New things are
published oldest first, each carrying the checkpoint that includes it, so the checkpoint advances thing
by thing. The checkpoint per listing is ``{"newest": <created_utc>, "seen": [<fullnames>]}`` (the last
``keep``): a restart republishes nothing it saved and misses nothing within the overlap.

Rate limit: Reddit tells the budget in ``X-Ratelimit-Used``/``-Remaining``/``-Reset`` (seconds to the end
of the window); :class:`RateBudget` spreads the remaining requests evenly over the rest of the window and,
when none remain, waits for the reset. 429 (``Retry-After`` or the reset honoured), 5xx, drops and
timeouts are :class:`~connectors.live.SourceUnavailable`; bad credentials and a private, banned or missing
subreddit are :class:`~connectors.live.SourceRefused` (a listener silently hearing fewer subreddits than
asked is worse than one that stops and says which).

Plain aiohttp rather than asyncpraw: asyncpraw hides the rate-limit waits and retries inside itself,
where :func:`~connectors.live.run_live` must decide on back-off and checkpoints; two listing endpoints
and a token request are a few lines.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from connectors.base import Rejected
from connectors.live import Checkpoint, Item, LiveSource, SourceRefused, SourceUnavailable
from schemas import RawPost
from schemas.contracts import Metrics
from schemas.posts import post_id, raw_post

log = logging.getLogger(__name__)

SOURCE = "reddit"
KINDS = {"posts": ("new", "t3"), "comments": ("comments", "t1")}
PAGE = 100  # the listings' maximum page size
GONE = ("[removed]", "[deleted]")
_SUBREDDIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")
CREDENTIALS = "ASCOLTO_REDDIT_CLIENT_ID and ASCOLTO_REDDIT_CLIENT_SECRET"


# --- Things → RawPosts ---------------------------------------------------------------------------


def thing_to_post(thing: Mapping[str, Any], source: str = SOURCE) -> RawPost | None:
    """A ``t3`` (post) or ``t1`` (comment) thing as a RawPost; None for a removed or deleted one.

    Raises KeyError/TypeError/ValueError for a thing without a fullname or ``created_utc``."""
    kind, data = thing["kind"], thing["data"]
    name = str(data["name"])
    if kind not in ("t1", "t3") or not name.startswith(f"{kind}_"):
        raise ValueError(f"{name!r} is not a post or comment fullname")
    created = float(data["created_utc"])
    if kind == "t3":
        body = str(data.get("selftext") or "")
        if body in GONE or data.get("removed_by_category"):
            return None
        text = "\n\n".join(part for part in (str(data.get("title") or "").strip(), body.strip()) if part)
    else:
        text = str(data.get("body") or "").strip()
        if text in GONE:
            return None
    author = str(data.get("author") or "")
    handle = author if author and author != "[deleted]" else "unknown"
    metrics: Metrics = {}
    if isinstance(data.get("score"), int) and data["score"] >= 0:
        metrics["likes"] = data["score"]
    if isinstance(data.get("num_comments"), int) and data["num_comments"] >= 0:
        metrics["replies"] = data["num_comments"]
    link_id = str(data.get("link_id") or name)  # a post is its own thread
    parent = data.get("parent_id") if kind == "t1" else None
    permalink = data.get("permalink")
    return raw_post(
        source=source,
        native_id=name,
        text=text,
        created_at=created,
        handle=handle,
        author_id=str(data.get("author_fullname") or handle),
        url=f"https://www.reddit.com{permalink}" if isinstance(permalink, str) and permalink.startswith("/") else None,
        in_reply_to=post_id(source, str(parent)) if parent else None,
        metrics=metrics or None,
        raw={
            "subreddit": data.get("subreddit"),
            "link_id": link_id,
            "conversation_id": post_id(source, link_id),
            "score": data.get("score"),
        },
    )


# --- the rate-limit budget -----------------------------------------------------------------------


@dataclass
class RateBudget:
    """When the next request may go, from the ``X-Ratelimit-*`` headers of the last answer.

    The remaining requests are spread evenly over the rest of the window; with none left, the next waits
    for the reset plus ``margin`` (the reset is whole seconds, possibly rounded down). Without headers,
    requests are ``default_interval`` apart (Reddit's 100 per minute)."""

    clock: Callable[[], float] = time.monotonic
    margin: float = 1.0
    default_interval: float = 0.6
    next_at: float = 0.0
    last: dict[str, float] = field(default_factory=dict)

    def wait(self) -> float:
        """Seconds to wait before the next request."""
        return max(0.0, self.next_at - self.clock())

    def update(self, headers: Mapping[str, str]) -> None:
        """Read the budget an answer told."""
        now = self.clock()
        try:
            remaining = float(headers["X-Ratelimit-Remaining"])
            reset = float(headers["X-Ratelimit-Reset"])
        except (KeyError, ValueError):
            self.next_at = now + self.default_interval
            return
        self.last = {"remaining": remaining, "reset": reset}
        if remaining < 1:
            self.next_at = now + reset + self.margin
        else:
            self.next_at = now + reset / math.floor(remaining)

    def retry_after(self, headers: Mapping[str, str]) -> float | None:
        """The wait a 429 asks for: ``Retry-After``, else the window's reset."""
        for key, extra in (("Retry-After", 0.0), ("X-Ratelimit-Reset", self.margin)):
            try:
                return max(0.0, float(headers[key])) + extra
            except (KeyError, ValueError):
                continue
        return None


# --- the checkpoint of one listing ---------------------------------------------------------------


@dataclass
class Listing:
    """What one listing (posts or comments) has published: the newest ``created_utc`` and recent fullnames."""

    newest: float | None
    seen: list[str]
    keep: int

    @classmethod
    def load(cls, data: object, keep: int) -> Listing:
        if not isinstance(data, dict):
            return cls(None, [], keep)
        newest = data.get("newest")
        seen = [str(s) for s in data.get("seen") or [] if isinstance(s, str)]
        return cls(float(newest) if isinstance(newest, int | float) else None, seen[-keep:], keep)

    def dump(self) -> dict[str, Any]:
        return {"newest": self.newest, "seen": list(self.seen)}

    def add(self, key: str, created: float | None) -> None:
        self.seen.append(key)
        del self.seen[: -self.keep]
        if created is not None:
            self.newest = created if self.newest is None else max(self.newest, created)

    def select(self, things: Sequence[tuple[str, float | None, Any]], overlap: float) -> tuple[list[Any], bool]:
        """The things (``(key, created, thing)``, newest first) not yet published, and whether the page may
        hold more further back (every thing on it was new)."""
        known = set(self.seen)
        cutoff = None if self.newest is None else self.newest - overlap
        new, more = [], True
        for key, created, thing in things:
            if key in known or (cutoff is not None and created is not None and created <= cutoff):
                more = False
                continue
            new.append(thing)
        return new, more and self.newest is not None


# --- the source ----------------------------------------------------------------------------------


class RedditSource(LiveSource):
    """New posts and/or comments of some subreddits, polled every ``every`` seconds.

    The first run publishes the newest page of each listing (up to 100 things); later ones everything new
    since the checkpoint (up to ``max_pages`` pages after a long stop)."""

    def __init__(
        self,
        subreddits: list[str],
        *,
        client_id: str,
        client_secret: str,
        user_agent: str,
        kinds: tuple[str, ...] = ("posts", "comments"),
        every: float = 30.0,
        base_url: str = "https://oauth.reddit.com",
        auth_url: str = "https://www.reddit.com/api/v1/access_token",
        name: str = SOURCE,
        overlap: float = 600.0,
        keep: int = 2000,
        max_pages: int = 10,
        timeout: float = 30.0,
        budget: RateBudget | None = None,
    ) -> None:
        subs = [s.strip().removeprefix("r/").removeprefix("/r/") for s in subreddits if s.strip()]
        if not subs:
            raise ValueError("name at least one subreddit")
        for sub in subs:
            if not _SUBREDDIT.match(sub):
                raise ValueError(f"{sub!r} is not a subreddit name (letters, digits and _, up to 21)")
        unknown = [k for k in kinds if k not in KINDS]
        if unknown or not kinds:
            raise ValueError(f"kinds must be among {', '.join(KINDS)}, not {', '.join(unknown) or 'none'}")
        if not user_agent.strip():
            raise ValueError("Reddit requires a User-Agent like 'linux:ascolto:0.1 (by /u/yourname)'")
        if not client_id or not client_secret:
            raise ValueError(f"set {CREDENTIALS}")
        self.subreddits, self.kinds, self.every = subs, tuple(kinds), every
        self.name = name
        self._client = aiohttp.encode_basic_auth(client_id, client_secret)
        self.user_agent = user_agent.strip()
        self.base_url, self.auth_url = base_url.rstrip("/"), auth_url
        self.overlap, self.keep, self.max_pages = overlap, keep, max_pages
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self.budget = budget or RateBudget()
        self._token: str | None = None
        self._token_until = 0.0

    @property
    def joined(self) -> str:
        """The subreddits as one path segment: ``a+b+c`` costs one query for all of them."""
        return "+".join(self.subreddits)

    @property
    def checkpoint_name(self) -> str:
        """One checkpoint per set of subreddits and kinds, so several runs keep apart."""
        what = "+".join(sorted(s.lower() for s in self.subreddits))
        if len(what) > 80:
            what = hashlib.sha256(what.encode()).hexdigest()[:16]
        return f"{self.name}-{what}-{'+'.join(self.kinds)}"

    # --- OAuth --------------------------------------------------------------------------------------

    async def _bearer(self, session: aiohttp.ClientSession) -> str:
        if self._token is not None and time.monotonic() < self._token_until:
            return self._token
        async with session.post(
            self.auth_url,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": self._client},
            allow_redirects=False,
        ) as resp:
            if resp.status in (400, 401, 403):
                raise SourceRefused(
                    f"Reddit refused the app's client credentials ({resp.status}); check {CREDENTIALS} "
                    "(the id and secret of an app registered at https://www.reddit.com/prefs/apps)."
                )
            if resp.status == 429 or resp.status >= 500:
                raise SourceUnavailable(
                    f"the token endpoint answered {resp.status}", self.budget.retry_after(resp.headers)
                )
            if resp.status != 200:
                raise SourceRefused(f"Reddit's token endpoint answered {resp.status}; check --auth-url.")
            body = await resp.read()
        answer: Any = None
        try:
            answer = orjson.loads(body)
            token, expires = str(answer["access_token"]), float(answer.get("expires_in", 3600))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            # Reddit answers a bad grant with 200 and {"error": "..."}.
            error = answer.get("error") if isinstance(answer, dict) else None
            raise SourceRefused(
                f"Reddit gave no access token ({error or 'unreadable answer'}); check {CREDENTIALS}."
            ) from None
        # Renewed a little before it expires, so no listing is ever sent with a stale token.
        self._token, self._token_until = token, time.monotonic() + expires - min(60.0, expires / 10)
        return token

    # --- listings -----------------------------------------------------------------------------------

    async def _get(self, session: aiohttp.ClientSession, path: str, params: dict[str, str]) -> dict[str, Any]:
        """One listing page, paced by the budget; a 401 renews the token once."""
        for attempt in (1, 2):
            await asyncio.sleep(self.budget.wait())
            token = await self._bearer(session)  # after the wait, which can be long: the token is fresh
            async with session.get(
                self.base_url + path,
                params=params,
                headers={"Authorization": f"bearer {token}"},
                allow_redirects=False,
            ) as resp:
                self.budget.update(resp.headers)
                if resp.status == 401 and attempt == 1:
                    self._token = None
                    continue
                self._check(resp)
                body = await resp.read()
            try:
                listing = orjson.loads(body)
                if listing.get("kind") != "Listing" or not isinstance(listing["data"]["children"], list):
                    raise TypeError("not a Listing")
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
                raise SourceUnavailable(f"r/{self.joined} answered something not a Listing ({exc})") from None
            return dict(listing["data"])
        raise AssertionError("unreachable")

    def _check(self, resp: aiohttp.ClientResponse) -> None:
        where = f"r/{self.joined}"
        if resp.status == 401:
            raise SourceRefused(f"Reddit refused a fresh access token (401) for {where}; check {CREDENTIALS}.")
        if resp.status == 403:
            raise SourceRefused(
                f"Reddit answered 403 for {where}: one of them is private, quarantined or banned; "
                "remove it from the list."
            )
        if resp.status == 404 or 300 <= resp.status < 400:  # Reddit redirects an unknown subreddit to a search
            raise SourceRefused(f"Reddit has no {where} ({resp.status}); check the subreddit names.")
        if resp.status == 429 or resp.status >= 500:
            raise SourceUnavailable(f"{where} answered {resp.status}", self.budget.retry_after(resp.headers))
        if resp.status != 200:
            raise SourceRefused(f"Reddit answered {resp.status} for {where}; check the subreddits and options.")

    async def _poll(self, session: aiohttp.ClientSession, kind: str, state: dict[str, Listing]) -> AsyncIterator[Item]:
        endpoint, prefix = KINDS[kind]
        listing = state[kind]
        new: list[Any] = []
        after: str | None = None
        for _ in range(self.max_pages):
            params = {"limit": str(PAGE), "raw_json": "1"} | ({"after": after} if after else {})
            page = await self._get(session, f"/r/{self.joined}/{endpoint}", params)
            children = page["children"]
            fresh, more = listing.select([_identify(c) for c in children], self.overlap)
            new.extend(fresh)
            after = page.get("after")
            if not more or not after or len(children) < PAGE:
                break
        # Oldest first, so each thing's checkpoint covers it and everything published before it.
        for thing in sorted(new, key=lambda t: _identify(t)[1] or 0.0):
            key, created, _ = _identify(thing)
            post: RawPost | Rejected | None
            try:
                if not isinstance(thing, dict) or thing.get("kind") != prefix:
                    raise ValueError(f"expected a {prefix} thing in the {kind} listing")
                post = thing_to_post(thing, self.name)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                post = Rejected(orjson.dumps(thing), f"not a Reddit {kind[:-1]} ({type(exc).__name__}: {exc})")
            listing.add(key, created)
            if post is None:
                continue  # removed or deleted: not a post, and not an error either
            yield Item(post, {k: v.dump() for k, v in state.items()})

    async def stream(self, checkpoint: Checkpoint) -> AsyncIterator[Item]:
        state = {kind: Listing.load(checkpoint.get(kind), self.keep) for kind in self.kinds}
        headers = {"User-Agent": self.user_agent}
        try:
            async with aiohttp.ClientSession(timeout=self.timeout, headers=headers) as session:
                while True:
                    started = time.monotonic()
                    for kind in self.kinds:
                        async for item in self._poll(session, kind, state):
                            yield item
                    await asyncio.sleep(max(0.0, self.every - (time.monotonic() - started)))
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SourceUnavailable(f"{type(exc).__name__}: {exc}".rstrip(": ")) from None


def _identify(thing: Any) -> tuple[str, float | None, Any]:
    """A thing's key (its fullname; a hash of it when it has none, so a malformed thing is dead-lettered
    once, not every poll) and its ``created_utc`` when readable."""
    data = thing.get("data") if isinstance(thing, dict) else None
    data = data if isinstance(data, dict) else {}
    name = data.get("name")
    try:
        created: float | None = float(data["created_utc"])
    except (KeyError, TypeError, ValueError):
        created = None
    if isinstance(name, str) and name:
        return name, created, thing
    return "bad:" + hashlib.sha256(orjson.dumps(thing, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16], created, thing
