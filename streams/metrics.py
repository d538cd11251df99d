"""Prometheus metrics of the stream agents (served by the worker on ASCOLTO_METRICS_PORT)."""

from __future__ import annotations

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
