"""The event contracts, defined once: RawPost, EnrichedPost, DeadLetter and Alert (all v1).

Each contract is a TypedDict whose fields carry their constraints (pydantic ``Field``), so it is
both the Python type the code uses for plain dicts and the source of the JSON Schema files
beside this module (``python -m schemas.export`` writes them; a unit test fails when they differ).
Messages stay plain dicts: nothing here is instantiated per message, and the edges validate
with the generated schemas (see :func:`schemas.validate`).

Field docs become the schema ``description``; class docstrings describe the whole document.
"""

# No `from __future__ import annotations`: the TypedDicts' __required_keys__ must see NotRequired.
from typing import Annotated, Any, Literal, NotRequired

from pydantic import ConfigDict, Field, with_config
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

# --- shared field shapes ---------------------------------------------------------------------
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
"""An RFC 3339 time (written by :mod:`schemas.timestamps`)."""

SOURCE_PATTERN = r"^[a-z0-9_.-]+$"
POST_ID_PATTERN = r"^[a-z0-9_.-]+:.+$"
PostId = Annotated[str, Field(min_length=3, max_length=512, pattern=POST_ID_PATTERN)]
Count = Annotated[int, Field(ge=0)]
Share = Annotated[float, Field(ge=0, le=1)]
Tags = list[str]
SchemaVersion = Literal[1]


# --- RawPost -----------------------------------------------------------------------------------
@with_config(ConfigDict(extra="forbid"))
class Author(TypedDict):
    id: Annotated[str, Field(max_length=256)]
    handle: Annotated[str, Field(max_length=256)]
    name: NotRequired[Annotated[str, Field(max_length=512)] | None]
    followers: NotRequired[Count | None]


@with_config(ConfigDict(extra="forbid"))
class Metrics(TypedDict, total=False):
    likes: Count
    reposts: Count
    replies: Count


@with_config(ConfigDict(extra="forbid", title="RawPost v1"))
class RawPost(TypedDict):
    """A social post as a connector publishes it to <prefix>posts.raw (key: id)."""

    id: Annotated[PostId, Field(description='"{source}:{native_id}"; the idempotency key and the Elasticsearch _id.')]
    source: Annotated[str, Field(min_length=1, max_length=64, pattern=SOURCE_PATTERN)]
    native_id: Annotated[str, Field(min_length=1, max_length=448)]
    text: Annotated[
        str, Field(min_length=1, max_length=100_000, description="Post text; longer texts go to the dead-letter topic.")
    ]
    created_at: Annotated[Timestamp, Field(description="RFC 3339 timestamp.")]
    created_at_inferred: NotRequired[
        Annotated[
            bool,
            Field(description="True when the source gave no time: created_at is when ascolto first received the post."),
        ]
    ]
    author: Author
    schema_version: SchemaVersion
    url: NotRequired[Annotated[str, Field(max_length=2048)] | None]
    lang_hint: NotRequired[
        Annotated[
            Annotated[str, Field(pattern=r"^[a-z]{2,3}$")] | None,
            Field(description="ISO 639-1 language the source claims."),
        ]
    ]
    in_reply_to: NotRequired[Annotated[str, Field(max_length=512)] | None]
    metrics: NotRequired[Metrics | None]
    raw: NotRequired[
        Annotated[dict[str, Any] | None, Field(description="Source-specific extras, stored but not indexed.")]
    ]


# --- EnrichedPost ------------------------------------------------------------------------------
SentimentLabel = Literal["positive", "neutral", "negative"]


@with_config(ConfigDict(extra="forbid"))
class Sentiment(TypedDict):
    compound: Annotated[float, Field(ge=-1, le=1)]
    pos: Share
    neu: Share
    neg: Share
    label: SentimentLabel
    model: Annotated[str, Field(min_length=1, description="Scorer and version, e.g. vader-3.3.2.")]


@with_config(ConfigDict(extra="forbid"))
class Entities(TypedDict):
    hashtags: Tags
    mentions: Tags
    urls: Tags
    emoji: Tags
    watch_terms: Tags


@with_config(
    ConfigDict(
        # Extra top-level fields are those custom enrichers write; the fields below are the contract.
        extra="allow",
        title="EnrichedPost v1",
        json_schema_extra={
            "$comment": "Extra top-level fields are those written by custom enrichers (docs/enrichers.md); "
            "the fields below are the contract."
        },
    )
)
class EnrichedPost(RawPost):
    """A RawPost v1 with the enrichment fields, as published to <prefix>posts.enriched and indexed. The RawPost properties are repeated here so the file stands alone for other tools."""  # noqa: E501

    lang: Annotated[str, Field(pattern=r"^([a-z]{2,3}|und)$", description="ISO 639-1 code, or und when unsure.")]
    sentiment: Sentiment
    topics: Annotated[Tags, Field(json_schema_extra={"uniqueItems": True})]
    entities: Entities
    enriched_at: Timestamp
    repost_key: NotRequired[
        Annotated[
            Annotated[str, Field(pattern=r"^[0-9a-f]{24}$")] | None,
            Field(
                description="Digest of the normalised text, shared by reposts of the same words; "
                "None when too short to tell."
            ),
        ]
    ]


# --- DeadLetter --------------------------------------------------------------------------------
@with_config(ConfigDict(extra="forbid", title="DeadLetter v1"))
class DeadLetter(TypedDict):
    """A message ascolto could not process, as published to <prefix>posts.dlq (key: the original key)."""

    stage: Annotated[
        str, Field(description="Where it failed: connector:<name>, decode, validate, enrich:<enricher>, index.")
    ]
    error: Annotated[str, Field(description="Why, in one sentence.")]
    original: Annotated[str, Field(description="The original bytes: as text when they are valid UTF-8, else base64.")]
    original_encoding: Literal["text", "base64"]
    truncated: NotRequired[
        Annotated[
            bool,
            Field(
                description="True when the original was too large to keep whole: original holds its first bytes "
                "(the letter stays within ASCOLTO_MAX_MESSAGE_BYTES)."
            ),
        ]
    ]
    original_bytes: NotRequired[Annotated[Count, Field(description="Size of the whole original, when truncated.")]]
    original_sha256: NotRequired[
        Annotated[
            str,
            Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256 (hex) of the whole original, when truncated."),
        ]
    ]
    topic: NotRequired[str | None]
    partition: NotRequired[int | None]
    offset: NotRequired[int | None]
    at: Timestamp
    schema_version: SchemaVersion


# --- Alert -------------------------------------------------------------------------------------
Severity = Literal["info", "warning", "critical"]
AlertKind = Literal["negative_spike", "volume_spike", "flatline", "new_term"]
KeyKind = Literal["topic", "watch_term", "source", "hashtag", "all"]


@with_config(ConfigDict(extra="forbid"))
class TermCount(TypedDict):
    term: Annotated[str, Field(min_length=1, max_length=256)]
    count: Count


@with_config(ConfigDict(extra="forbid"))
class SamplePost(TypedDict):
    id: PostId
    text: Annotated[str, Field(max_length=600, description="The post's text, cut at 500 characters.")]
    author: Annotated[str, Field(max_length=256, description="The author's handle.")]
    sentiment: NotRequired[SentimentLabel | None]
    created_at: NotRequired[Timestamp | None]


@with_config(ConfigDict(extra="forbid"))
class AlertSearch(TypedDict):
    """The posts behind an alert, ready to look at."""

    cli: Annotated[str, Field(description="An `ascolto search` command line.")]
    url: Annotated[str, Field(description="The worker API's /api/search URL.")]


@with_config(ConfigDict(extra="forbid"))
class Resolution(TypedDict):
    """The window in which the key was back to its baseline."""

    window_start: Timestamp
    window_end: Timestamp
    observed: float
    summary: str


@with_config(ConfigDict(extra="forbid", title="Alert v1"))
class Alert(TypedDict):
    """A spike the detector found, as published to <prefix>alerts (key: id) and indexed in the alerts index (_id: id)."""  # noqa: E501

    id: Annotated[
        str,
        Field(
            pattern=r"^[0-9a-f]{32}$",
            description="Deterministic from rule, key and window (schemas.alerts.alert_id), so replays are idempotent.",
        ),
    ]
    rule: Annotated[
        str, Field(min_length=1, max_length=128, pattern=SOURCE_PATTERN, description="The rule that fired.")
    ]
    key: Annotated[
        str, Field(min_length=1, max_length=512, description="What spiked: a topic, a watch term, a source.")
    ]
    window_start: Timestamp
    window_end: Timestamp
    metric: Annotated[
        str, Field(min_length=1, max_length=64, description="What was measured, e.g. volume or negative_share.")
    ]
    observed: Annotated[float, Field(description="The metric's value in the window.")]
    baseline: Annotated[float, Field(description="The value the rule expected.")]
    score: Annotated[float, Field(description="How far observed is from baseline, in the rule's unit.")]
    severity: Severity
    sample_post_ids: Annotated[
        list[PostId], Field(max_length=20, description="A few posts of the window, to look at first.")
    ]
    created_at: Annotated[Timestamp, Field(description="When the alert was raised.")]
    schema_version: SchemaVersion
    # What a reader needs to act (all optional in v1: the first producers wrote none of them).
    status: NotRequired[
        Annotated[
            Literal["firing", "resolved"],
            Field(description="firing, or resolved: the same id again once the key is back to its baseline."),
        ]
    ]
    kind: NotRequired[AlertKind]
    key_kind: NotRequired[Annotated[KeyKind, Field(description="What the key is: a topic, a watch term, ...")]]
    language: NotRequired[Annotated[Literal["en", "it"], Field(description="The language of summary.")]]
    summary: NotRequired[
        Annotated[
            str,
            Field(
                max_length=1000,
                description='The change in words: "negative posts about billing: 48 in 10 min, usually 5 ± 2, 9.6×".',
            ),
        ]
    ]
    window_minutes: NotRequired[Annotated[float, Field(gt=0)]]
    total: NotRequired[Annotated[Count, Field(description="Posts of the key in the window.")]]
    negative: NotRequired[Annotated[Count, Field(description="Negative posts of the key in the window.")]]
    share_negative: NotRequired[Share | None]
    share_baseline: NotRequired[Annotated[Share | None, Field(description="The usual negative share.")]]
    baseline_std: NotRequired[Annotated[float, Field(ge=0)]]
    baseline_source: NotRequired[Literal["seasonal", "ewma", "none"]]
    ratio: NotRequired[
        Annotated[float | None, Field(description="observed / baseline; null when nothing was expected.")]
    ]
    top_terms: NotRequired[
        Annotated[list[TermCount], Field(max_length=20, description="Hashtags and words of the window.")]
    ]
    samples: NotRequired[
        Annotated[list[SamplePost], Field(max_length=5, description="Posts of the window to read first.")]
    ]
    search: NotRequired[AlertSearch]
    notify: NotRequired[
        Annotated[bool, Field(description="False when the rule's realert period held the notification back.")]
    ]
    resolved_at: NotRequired[Annotated[Timestamp | None, Field(description="When the resolution was raised.")]]
    resolution: NotRequired[Resolution | None]


#: Every contract by its schema name; ``<name>.v1.json`` beside this module is generated from it.
CONTRACTS: dict[str, type[Any]] = {
    "raw_post": RawPost,
    "enriched_post": EnrichedPost,
    "dead_letter": DeadLetter,
    "alert": Alert,
}
