"""Prometheus metrics of the stream agents (served by the worker on ASCOLTO_METRICS_PORT).

Every label takes a bounded set of values: agent and stage names are fixed in the code, enrichers are
those the chain was built with, topic and partition are the Kafka partitions this worker is assigned
(at most ASCOLTO_TOPIC_PARTITIONS per topic), and taxonomy topics are capped by :class:`TopicLabels`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_IN = Counter("ascolto_messages_consumed_total", "Messages consumed, by agent.", ["agent"])
POSTS_ENRICHED = Counter("ascolto_posts_enriched_total", "Posts enriched and published to posts.enriched.")
DEAD_LETTERS = Counter("ascolto_dead_letters_total", "Messages sent to the dead-letter topic, by stage.", ["stage"])
# The enrich agent works in batches and observes once per batch, never per post (a Prometheus call
# per post showed in profiles). Mean time per post: rate(..._batch_seconds_sum) / rate(..._batch_posts_sum).
ENRICH_BATCH_SECONDS = Histogram(
    "ascolto_enrich_batch_seconds",
    "Time to decode, validate and enrich one batch of posts.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
ENRICH_BATCH_POSTS = Histogram(
    "ascolto_enrich_batch_posts", "Messages per enrich batch.", buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000)
)
ENRICH_PUBLISH_SECONDS = Histogram(
    "ascolto_enrich_publish_seconds",
    "From handing an enrich batch's records to the producer until Kafka acknowledged all of them.",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30),
)
DOCS_INDEXED = Counter("ascolto_docs_indexed_total", "Documents Elasticsearch acknowledged.")
INDEX_DECODED = Counter(
    "ascolto_index_decoded_total",
    "Records the index sink decoded because they lacked the post id key and created_at header "
    "(written by an older worker or another tool) or their value could not be indexed as it is.",
)
DOCS_EXPIRED = Counter("ascolto_docs_expired_total", "Posts not indexed because they are older than the retention.")
LIFECYCLE_ERRORS = Counter("ascolto_lifecycle_errors_total", "Failed rollover or retention rounds.")
BULK_SECONDS = Histogram("ascolto_bulk_seconds", "Duration of one bulk request.")
BULK_DOCS = Histogram(
    "ascolto_bulk_docs", "Documents per bulk request.", buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000)
)
INDEX_RETRIES = Counter("ascolto_index_retries_total", "Bulk attempts retried, by reason.", ["reason"])
INDEX_LAG_SECONDS = Histogram(
    "ascolto_index_lag_seconds",
    "From a post's created_at to Elasticsearch acknowledging it.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
INGEST_TO_INDEX_SECONDS = Histogram(
    "ascolto_ingest_to_index_seconds",
    "From a post's record entering posts.raw (its Kafka timestamp) to Elasticsearch acknowledging it: "
    "the pipeline's own latency, also for posts whose created_at is old.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
BULK_ERRORS = Counter(
    "ascolto_bulk_errors_total",
    "Bulk failures, by kind: request (the whole request failed and is retried) or document "
    "(Elasticsearch answered an item with an error; retried or dead-lettered by its status).",
    ["kind"],
)
CONSUMER_LAG = Gauge(
    "ascolto_consumer_lag",
    "Records of a partition not yet processed by this worker (high watermark minus position), "
    "by agent, topic and partition; only the partitions the worker is assigned.",
    ["agent", "topic", "partition"],
)
TOPIC_POSTS = Counter(
    "ascolto_topic_posts_total",
    "Enriched posts by taxonomy topic (a post counts once per topic, 'none' without one) and sentiment label. "
    'Share negative per topic: rate(...{sentiment="negative"}) / rate(...) (recorded as ascolto:topic_*).',
    ["topic", "sentiment"],
)
ES_UP = Gauge("ascolto_elasticsearch_up", "1 while the indexer reaches Elasticsearch, 0 while it waits for it.")
ENRICHER_SECONDS = Histogram(
    "ascolto_enricher_seconds",
    "Time one enricher takes for one post.",
    ["enricher"],
    buckets=(0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.025, 0.1),
)
ENRICHER_ERRORS = Counter("ascolto_enricher_errors_total", "Posts an enricher failed on.", ["enricher"])

# --- alerting (per rule; deliveries also per subscriber kind: webhook, slack, teams, email, kafka) ---
ALERT_RULE_RELOADS = Counter(
    "ascolto_alert_rule_reloads_total",
    "Changes of the alert rules file: loaded, or rejected (old rules kept).",
    ["outcome"],
)
ALERTS_FIRED = Counter("ascolto_alerts_fired_total", "Alerts raised, by rule and kind.", ["rule", "kind"])
ALERTS_RESOLVED = Counter("ascolto_alerts_resolved_total", "Alerts resolved (key back to baseline).", ["rule", "kind"])
ALERTS_SUPPRESSED = Counter(
    "ascolto_alerts_suppressed_total", "Alerts raised but not notified: within the rule's realert period.", ["rule"]
)
ALERT_LATE_POSTS = Counter(
    "ascolto_alert_late_posts_total",
    "Posts too late for their window (past the allowed lateness), not counted.",
    ["rule"],
)
ALERT_KEYS = Gauge("ascolto_alert_keys", "Rule and key pairs the detector tracks in this worker.")
ALERTS_DELIVERED = Counter(
    "ascolto_alerts_delivered_total", "Alert notifications a subscriber accepted.", ["rule", "channel"]
)
ALERT_DELIVERY_RETRIES = Counter(
    "ascolto_alert_delivery_retries_total", "Failed delivery attempts that will be retried.", ["rule", "channel"]
)
ALERT_DELIVERIES_FAILED = Counter(
    "ascolto_alert_deliveries_failed_total",
    "Notifications given up on after the retry period (each also goes to the dead-letter topic).",
    ["rule", "channel"],
)
ALERT_DELIVERY_SECONDS = Histogram(
    "ascolto_alert_delivery_seconds",
    "From an alert being raised to a subscriber accepting it.",
    ["rule", "channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 14400),
)
ALERT_OUTBOX_PENDING = Gauge("ascolto_alert_outbox_pending", "Notifications waiting in the outbox (retries, digests).")


class LagGauge:
    """``ascolto_consumer_lag`` of one agent; series of partitions it no longer owns are removed."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self._shown: set[tuple[str, int]] = set()

    def report(self, lags: Mapping[tuple[str, int], int], *, complete: bool = True) -> None:
        """Set the lag of each (topic, partition); ``complete`` means ``lags`` holds every owned partition."""
        for (topic, partition), lag in lags.items():
            CONSUMER_LAG.labels(self.agent, topic, str(partition)).set(max(0, lag))
        if complete:
            for topic, partition in self._shown - lags.keys():
                try:
                    CONSUMER_LAG.remove(self.agent, topic, str(partition))
                except KeyError:
                    pass
            self._shown = set(lags)
        else:
            self._shown |= lags.keys()


_TOPIC_ID = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SENTIMENT_LABELS = frozenset({"positive", "neutral", "negative"})


class TopicLabels:
    """Bounds the ``topic`` label: the first ``limit`` distinct taxonomy ids seen keep their own
    series, anything later or not shaped like a taxonomy id (lower_snake_case) becomes ``other``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._known: set[str] = set()

    def label(self, topic: object) -> str:
        if not isinstance(topic, str) or not _TOPIC_ID.match(topic):
            return "other"
        if topic in self._known:
            return topic
        if len(self._known) < self.limit:
            self._known.add(topic)
            return topic
        return "other"


def count_topic_sentiment(labels: TopicLabels, posts: Iterable[Mapping[str, object]]) -> None:
    """Add enriched ``posts`` to ``ascolto_topic_posts_total`` (one counter call per label pair, not per post)."""
    tally: dict[tuple[str, str], int] = {}
    for post in posts:
        sentiment = post.get("sentiment")
        label = sentiment.get("label") if isinstance(sentiment, Mapping) else None
        mood = label if label in SENTIMENT_LABELS else "other"
        topics = post.get("topics")
        names = [labels.label(t) for t in topics] if isinstance(topics, list) and topics else ["none"]
        for name in set(names):
            tally[name, str(mood)] = tally.get((name, str(mood)), 0) + 1
    for (topic, mood), n in tally.items():
        TOPIC_POSTS.labels(topic, mood).inc(n)
