"""Prometheus metrics of the connectors (served with ``ascolto connect ... --metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter

RECORDS_SENT = Counter(
    "ascolto_connector_records_total",
    "Records handed to Kafka, by source and kind (post or dead_letter).",
    ["source", "kind"],
)
RECORDS_ACKED = Counter("ascolto_connector_acked_total", "Records Kafka acknowledged, by source.", ["source"])
DELIVERY_ERRORS = Counter("ascolto_connector_delivery_errors_total", "Records Kafka refused, by source.", ["source"])
