"""Prometheus metrics of the connectors (served with ``ascolto connect ... --metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RECORDS_SENT = Counter(
    "ascolto_connector_records_total",
    "Records handed to Kafka, by source and kind (post or dead_letter).",
    ["source", "kind"],
)
RECORDS_ACKED = Counter("ascolto_connector_acked_total", "Records Kafka acknowledged, by source.", ["source"])
DELIVERY_ERRORS = Counter("ascolto_connector_delivery_errors_total", "Records Kafka refused, by source.", ["source"])

# --- long-running sources (connectors/live.py) ---------------------------------------------------
# Labelled by the running source's name (its checkpoint's: ``rss``, ``mastodon-<host>-tag-<tag>``, a sources
# file entry's ``name``), so two Mastodon instances in one process are two series; bounded by what is configured.
LIVE_RECEIVED = Counter("ascolto_connector_received_total", "Items a live source received, by source.", ["source"])
LIVE_PUBLISHED = Counter(
    "ascolto_connector_published_total", "Posts a live source handed to Kafka, by source.", ["source"]
)
LIVE_REJECTED = Counter(
    "ascolto_connector_rejected_total", "Items of a live source sent to the dead-letter topic, by source.", ["source"]
)
LIVE_RECONNECTS = Counter(
    "ascolto_connector_reconnects_total", "Times a live source lost its network and reconnected.", ["source"]
)
LIVE_LAG = Gauge(
    "ascolto_connector_lag_seconds", "From the newest published post's created_at to its publication.", ["source"]
)
