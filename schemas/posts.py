"""The one factory of RawPosts: every connector, ``ascolto enrich`` and the test helpers build posts here."""

from __future__ import annotations

from typing import Any

from schemas.contracts import Author, Metrics, RawPost
from schemas.timestamps import now_rfc3339, to_rfc3339


def post_id(source: str, native_id: str) -> str:
    """The post id, ``"{source}:{native_id}"``: the Kafka key, the idempotency key and the Elasticsearch _id."""
    return f"{source}:{native_id}"


def raw_post(
    *,
    source: str,
    native_id: str | int,
    text: str,
    created_at: object = None,
    handle: str = "unknown",
    author_id: str | None = None,
    author_name: str | None = None,
    followers: int | None = None,
    url: str | None = None,
    lang_hint: str | None = None,
    in_reply_to: str | None = None,
    metrics: Metrics | None = None,
    raw: dict[str, Any] | None = None,
) -> RawPost:
    """A RawPost v1; optional fields left as None are omitted.

    ``created_at`` may be anything :func:`~schemas.timestamps.to_rfc3339` reads (ISO 8601, epoch
    seconds or milliseconds; ValueError otherwise); None means now, and marks the post
    ``created_at_inferred`` (the index sink then keeps the time of the first copy it indexed, so
    a replay lands beside it instead of in a newer index). ``author_id`` defaults to the
    handle, for sources that know only a handle. The result is not validated here: the producer
    does that, so an invalid post is dead-lettered with the reason.
    """
    native = str(native_id)
    author: Author = {"id": handle if author_id is None else author_id, "handle": handle}
    if author_name is not None:
        author["name"] = author_name
    if followers is not None:
        author["followers"] = followers
    post: RawPost = {
        "id": post_id(source, native),
        "source": source,
        "native_id": native,
        "text": text,
        "created_at": now_rfc3339() if created_at is None else to_rfc3339(created_at),
        "author": author,
        "schema_version": 1,
    }
    if created_at is None:
        post["created_at_inferred"] = True
    if url is not None:
        post["url"] = url
    if lang_hint is not None:
        post["lang_hint"] = lang_hint
    if in_reply_to is not None:
        post["in_reply_to"] = in_reply_to
    if metrics is not None:
        post["metrics"] = metrics
    if raw is not None:
        post["raw"] = raw
    return post
