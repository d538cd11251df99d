"""Python shapes of the event contracts; the JSON Schema files beside this module are the authority."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict


class Author(TypedDict):
    id: str
    handle: str
    name: NotRequired[str | None]
    followers: NotRequired[int | None]


class Metrics(TypedDict, total=False):
    likes: int
    reposts: int
    replies: int


class RawPost(TypedDict):
    """RawPost v1 (``schemas/raw_post.v1.json``)."""

    id: str
    source: str
    native_id: str
    text: str
    created_at: str
    author: Author
    schema_version: Literal[1]
    url: NotRequired[str | None]
    lang_hint: NotRequired[str | None]
    in_reply_to: NotRequired[str | None]
    metrics: NotRequired[Metrics | None]
    raw: NotRequired[dict[str, Any] | None]


SentimentLabel = Literal["positive", "neutral", "negative"]


class Sentiment(TypedDict):
    compound: float
    pos: float
    neu: float
    neg: float
    label: SentimentLabel
    model: str


class Entities(TypedDict):
    hashtags: list[str]
    mentions: list[str]
    urls: list[str]
    emoji: list[str]
    watch_terms: list[str]


class EnrichedPost(RawPost):
    """EnrichedPost v1 (``schemas/enriched_post.v1.json``): a RawPost plus enrichment."""

    lang: str
    sentiment: Sentiment
    topics: list[str]
    entities: Entities
    enriched_at: str
    duplicate_of: NotRequired[str | None]


class DeadLetter(TypedDict):
    """DeadLetter v1 (``schemas/dead_letter.v1.json``)."""

    stage: str
    error: str
    original: str
    original_encoding: Literal["text", "base64"]
    topic: str | None
    partition: int | None
    offset: int | None
    at: str
    schema_version: Literal[1]
