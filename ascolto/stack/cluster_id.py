"""A KRaft cluster id made the way Kafka's own ``Uuid.randomUuid()`` makes one."""

from __future__ import annotations

import base64
import uuid

# Kafka reserves these two ids (Uuid.ZERO_UUID and Uuid.METADATA_TOPIC_ID).
_RESERVED = {bytes(16), (1).to_bytes(16, "big")}


def random_cluster_id() -> str:
    """22 characters of URL-safe base64, never starting with '-' (a command line would read it as an option)."""
    while True:
        raw = uuid.uuid4().bytes
        text = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        if raw not in _RESERVED and not text.startswith("-"):
            return text
