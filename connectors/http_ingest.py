"""``ascolto connect http``: a push source. Other systems (a CRM, a contact-centre export, a webhook relay)
``POST /ingest`` one post or a JSON array of posts; the answer comes only once Kafka has them.

* **Auth**: ``Authorization: Bearer <ASCOLTO_INGEST_TOKEN>``, or an HMAC signature of the body made with
  ``ASCOLTO_INGEST_SECRET`` (the headers of :mod:`core.signing`, as ascolto's own alert webhooks send).
  No auth configured: the endpoint does not start. Bad or missing auth: 401.
* **Items**: a RawPost v1 (``schema_version: 1``) is taken as it is; anything else is mapped by :func:`to_post`
  (``native_id`` or ``id``, ``text``, optional ``created_at``, ``author`` as a handle or an object, ``url``,
  ``lang``, ``in_reply_to``; other keys are kept under ``raw``). ``?source=NAME`` names the posts' source.
  Started with a column mapping (``--text-column body``...), items are mapped through it instead, as the file
  connector maps rows (:func:`connectors.file.row_to_post`): a relay posts a CRM export's records as they are.
* **Answers**: 202 ``{"accepted", "rejected", "ids", "rejections"}`` after Kafka acknowledged every post and
  dead letter of the request; an item that cannot be a post goes to the dead-letter topic with the reason and
  the others still go through. 400 for a body that is not JSON, 413 over ``ASCOLTO_INGEST_MAX_BYTES``, 503
  when Kafka does not acknowledge in ``ASCOLTO_INGEST_ACK_TIMEOUT_SECONDS`` (send again: ids are idempotent).

Being pushed to, it keeps no checkpoint: a sender that got no 202 sends again.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from connectors import metrics
from connectors.base import Rejected, publish_one
from connectors.file import Columns, row_to_post
from connectors.producer import PostProducer, as_bytes
from core.errors import AscoltoError
from core.settings import Settings
from core.signing import SIGNATURE_HEADER, verify
from schemas import InvalidMessage, RawPost, raw_post, validate

log = logging.getLogger(__name__)

SOURCE_NAME = re.compile(r"^[a-z0-9_.-]{1,64}$")
#: Keys :func:`to_post` maps to RawPost fields; any other key of an item is kept under ``raw``.
MAPPED_KEYS = frozenset({"id", "native_id", "text", "created_at", "author", "url", "lang", "in_reply_to"})
_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


class BadBody(Exception):
    """The whole request body is unusable (400): not JSON, or neither an object nor an array."""


def json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPES.get(type(value), type(value).__name__)


def parse_body(body: bytes, source: str, columns: Columns | None = None) -> list[RawPost | Rejected]:
    """The posts (and rejects) of one request body: one JSON object or an array of them (mapped through
    ``columns`` when given)."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadBody(f"The body is not JSON ({exc}); send one post object or an array of them.") from None
    if isinstance(data, dict):
        return [to_post(data, source, 0, columns)]
    if isinstance(data, list):
        return [to_post(item, source, index, columns) for index, item in enumerate(data)]
    raise BadBody(f"The body is a JSON {json_type(data)}; send one post object or an array of them.")


def to_post(item: Any, source: str, index: int, columns: Columns | None = None) -> RawPost | Rejected:
    """One item as a valid RawPost of ``source``, or a :class:`Rejected` saying why it cannot be one.

    With ``columns`` an item that is not a RawPost v1 is mapped through them, like a row of the file connector."""
    try:
        if columns is not None and isinstance(item, dict) and item.get("schema_version") != 1:
            post = row_to_post(item, columns, source, as_bytes(item))
        else:
            post = _map(item, source)
        if isinstance(post, str):
            return Rejected(as_bytes(item), f"item {index}: {post}")
        validate("raw_post", post)
    except InvalidMessage as exc:
        return Rejected(as_bytes(item), f"item {index}: {exc.reason}")
    except Exception as exc:  # one item's surprise is that item's dead letter, not a failed request
        return Rejected(as_bytes(item), f"item {index}: cannot be read as a post ({type(exc).__name__}: {exc})")
    return post


def _map(item: Any, source: str) -> RawPost | str:
    """The post, or why there is none."""
    if not isinstance(item, dict):
        return f"a JSON {json_type(item)}, not an object"
    if item.get("schema_version") == 1:
        return item  # type: ignore[return-value]  # already a RawPost: validated by the caller
    native_id = item.get("native_id", item.get("id"))
    if isinstance(native_id, bool) or not isinstance(native_id, str | int) or str(native_id).strip() == "":
        return "no native_id or id (a string or a whole number)"
    text = item.get("text")
    if not isinstance(text, str) or not text.strip():
        return "no text"
    author = item.get("author")
    handle, author_id, name, followers = "unknown", None, None, None
    if isinstance(author, str) and author.strip():
        handle = author
    elif isinstance(author, dict):
        handle = str(author.get("handle") or "unknown")
        author_id = None if author.get("id") in (None, "") else str(author["id"])
        name = None if author.get("name") is None else str(author["name"])
        followers = author.get("followers")
        if followers is not None and (isinstance(followers, bool) or not isinstance(followers, int)):
            return "author.followers is not a whole number"
    elif author is not None:
        return f"author is a JSON {json_type(author)}; give a handle or an object with a handle"
    extras = {k: v for k, v in item.items() if k not in MAPPED_KEYS}
    try:
        return raw_post(
            source=source,
            native_id=native_id,
            text=text,
            created_at=item.get("created_at"),
            handle=handle,
            author_id=author_id,
            author_name=name,
            followers=followers,
            url=None if item.get("url") is None else str(item["url"]),
            lang_hint=str(item["lang"]).lower() if item.get("lang") else None,
            in_reply_to=None if item.get("in_reply_to") is None else str(item["in_reply_to"]),
            raw=extras or None,
        )
    except ValueError as exc:  # an unreadable created_at
        return str(exc)


# --- publishing: one producer, acknowledged in groups ---------------------------------------------


@dataclass
class _Pending:
    items: list[RawPost | Rejected]
    done: asyncio.Future[list[str | None]] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class AckedPublisher:
    """Publishes each request's items and resolves it once Kafka acknowledged them.

    Requests that arrive while a flush runs are sent and flushed together next (a group commit), by one
    task: so the producer's errors after a flush belong to exactly the requests of that flush, and each
    of them is answered 503 (their senders send again; ids are idempotent).
    """

    def __init__(self, producer: PostProducer, *, ack_timeout: float, max_group: int = 20_000) -> None:
        self.producer = producer
        self.ack_timeout = ack_timeout
        self.max_group = max_group
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="ingest-publisher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def publish(self, items: list[RawPost | Rejected]) -> list[str | None]:
        """Per item, the id Kafka acknowledged, or None for one dead-lettered (acknowledged as such).

        Raises :class:`AscoltoError` when Kafka did not acknowledge them all."""
        pending = _Pending(items)
        await self._queue.put(pending)
        return await pending.done

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            size = len(group[0].items)
            while not self._queue.empty() and size < self.max_group:
                group.append(self._queue.get_nowait())
                size += len(group[-1].items)
            try:
                # kafka-python's sends and flush block: in a thread, so the server keeps answering meanwhile.
                results = await asyncio.to_thread(self._send_and_flush, [p.items for p in group])
            except Exception as exc:
                # Kafka refused (AscoltoError), or a surprise: this group is answered 503 and the loop goes on,
                # or every later request would wait forever.
                if not isinstance(exc, AscoltoError):
                    log.exception("publishing an ingest batch failed unexpectedly")
                    exc = AscoltoError(f"publishing failed unexpectedly ({type(exc).__name__}); see the log")
                for pending in group:
                    if not pending.done.done():
                        pending.done.set_exception(exc)
                continue
            for pending, result in zip(group, results, strict=True):
                if not pending.done.done():
                    pending.done.set_result(result)

    def _send_and_flush(self, groups: list[list[RawPost | Rejected]]) -> list[list[str | None]]:
        results: list[list[str | None]] = []
        try:
            for items in groups:
                result: list[str | None] = []
                for item in items:
                    if isinstance(item, Rejected):
                        self.producer.reject(item.original, item.reason)
                        result.append(None)
                    else:
                        result.append(item["id"] if publish_one(self.producer, item) else None)
                results.append(result)
            self.producer.flush(timeout=self.ack_timeout)
        except AscoltoError:
            # These refusals are answered now (503 to this group); the next group starts with a clean slate.
            self.producer.errors.clear()
            raise
        return results


# --- the HTTP endpoint -------------------------------------------------------------------------------


class IngestEndpoint:
    """The aiohttp application of ``POST /ingest`` (and ``GET /healthz``)."""

    def __init__(
        self,
        settings: Settings,
        producer: PostProducer,
        *,
        default_source: str = "http",
        columns: Columns | None = None,
    ) -> None:
        if settings.ingest_token is None and settings.ingest_secret is None:
            raise AscoltoError(
                "The ingest endpoint needs a way to authenticate senders: set ASCOLTO_INGEST_TOKEN (a bearer token) "
                "or ASCOLTO_INGEST_SECRET (an HMAC signing secret), or both."
            )
        if not SOURCE_NAME.match(default_source):
            raise AscoltoError(
                f"The source name {default_source!r} is not allowed; use lowercase letters, digits, '_', '.' or '-'."
            )
        self.token = settings.ingest_token.get_secret_value().encode() if settings.ingest_token else None
        self.secret = settings.ingest_secret.get_secret_value().encode() if settings.ingest_secret else None
        self.max_bytes = settings.ingest_max_bytes
        self.default_source = default_source
        self.columns = columns
        self.publisher = AckedPublisher(producer, ack_timeout=settings.ingest_ack_timeout_seconds)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_bytes)
        app.router.add_post("/ingest", self.ingest)
        app.router.add_get("/healthz", self.health)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _app: web.Application) -> None:
        self.publisher.start()

    async def _stop(self, _app: web.Application) -> None:
        await self.publisher.stop()

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ingest(self, request: web.Request) -> web.Response:
        source = request.query.get("source", self.default_source)
        if not SOURCE_NAME.match(source):
            return _error(400, f"The source {source!r} is not allowed; use lowercase letters, digits, '_', '.' or '-'.")
        bearer = self._bearer_verdict(request.headers)
        if bearer is False or (bearer is None and (self.secret is None or SIGNATURE_HEADER not in request.headers)):
            return _unauthorised()
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _error(
                413, f"The body is over {self.max_bytes} bytes (ASCOLTO_INGEST_MAX_BYTES); send smaller batches."
            )
        if bearer is None and not verify(self.secret or b"", body, request.headers):
            return _unauthorised()
        try:
            items = parse_body(body, source, self.columns)
        except BadBody as exc:
            return _error(400, str(exc))
        metrics.LIVE_RECEIVED.labels(source).inc(len(items))
        try:
            ids = await self.publisher.publish(items)
        except AscoltoError as exc:
            log.error("POST /ingest answered 503: %s", exc)
            return _error(503, f"Kafka did not acknowledge the posts ({exc}); send them again later.")
        accepted = [i for i in ids if i is not None]
        rejections = [
            {"item": index, "reason": item.reason if isinstance(item, Rejected) else "refused by the producer"}
            for index, (item, post_id) in enumerate(zip(items, ids, strict=True))
            if post_id is None
        ]
        body_out = {"accepted": len(accepted), "rejected": len(rejections), "ids": accepted, "rejections": rejections}
        return web.json_response(body_out, status=202)

    def _bearer_verdict(self, headers: Mapping[str, str]) -> bool | None:
        """True/False for a good/bad ``Authorization`` header; None when there is none."""
        value = headers.get("Authorization")
        if value is None:
            return None
        scheme, _, given = value.partition(" ")
        if self.token is None or scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.strip().encode(), self.token)


def _error(status: int, sentence: str) -> web.Response:
    return web.json_response({"error": sentence}, status=status)


def _unauthorised() -> web.Response:
    response = _error(401, "Missing or wrong credentials; send Authorization: Bearer <token> or a signed request.")
    response.headers["WWW-Authenticate"] = 'Bearer realm="ascolto-ingest"'
    return response


async def serve(
    endpoint: IngestEndpoint,
    *,
    host: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve ``endpoint`` on ``host:port`` until ``stop`` is set; requests in flight are answered before it returns."""
    runner = web.AppRunner(endpoint.app(), access_log=None, shutdown_timeout=endpoint.publisher.ack_timeout + 5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise AscoltoError(
                f"Cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port or --bind."
            ) from None
        if on_ready is not None:
            on_ready(f"http://{host}:{port}/ingest")
        await stop.wait()
    finally:
        await runner.cleanup()
