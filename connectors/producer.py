"""The one Kafka producer every connector uses: acks=all, idempotent, compressed, keyed by post id."""

from __future__ import annotations

import logging
import threading
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError

from connectors import metrics
from core.errors import DeliveryError
from core.kafka import TopicNames, ensure_topics, kafka_client_config, unreachable
from core.settings import Settings
from schemas import (
    DEAD_LETTER_HEADERS,
    RAW_POST_HEADERS,
    Headers,
    InvalidMessage,
    RawPost,
    dead_letter,
    dumps,
    validate,
)

log = logging.getLogger(__name__)


class PostProducer:
    """Publishes RawPosts to ``posts.raw`` and what cannot be a RawPost to ``posts.dlq``.

    Sends are asynchronous; :meth:`flush` (also on ``with`` exit) waits for every
    acknowledgement and raises :class:`DeliveryError` if Kafka refused any record.
    """

    def __init__(self, settings: Settings, stage: str) -> None:
        self.stage = stage
        self.topics: TopicNames = ensure_topics(settings)
        compression = None if settings.kafka_compression == "none" else settings.kafka_compression
        try:
            self._producer = KafkaProducer(
                **kafka_client_config(settings),
                acks="all",
                enable_idempotence=True,
                compression_type=compression,
                linger_ms=20,
                batch_size=256 * 1024,
                max_request_size=settings.max_message_bytes,
            )
        except KafkaError as exc:
            raise unreachable(settings, exc) from None
        self._lock = threading.Lock()
        source = stage.split(":", 1)[-1]
        self._posts_sent = metrics.RECORDS_SENT.labels(source, "post")
        self._letters_sent = metrics.RECORDS_SENT.labels(source, "dead_letter")
        self._acked = metrics.RECORDS_ACKED.labels(source)
        self._refused = metrics.DELIVERY_ERRORS.labels(source)
        self.sent = self.delivered = self.dead_lettered = 0
        self.errors: list[str] = []

    # --- publishing --------------------------------------------------------------------------
    def publish(self, post: RawPost) -> bool:
        """Validate and send a post; an invalid one is dead-lettered instead. True if it was sent as a post."""
        try:
            validate("raw_post", post)
        except InvalidMessage as exc:
            self.reject(dumps(post), exc.reason, key=str(post.get("id") or "") or None)
            return False
        self._send(self.topics.raw, post["id"], dumps(post), RAW_POST_HEADERS)
        self._posts_sent.inc()
        return True

    def reject(self, original: bytes, reason: str, key: str | None = None) -> None:
        """Send input that could not become a RawPost to the dead-letter topic, with the reason."""
        letter = dead_letter(self.stage, reason, original)
        self._send(self.topics.dlq, key, dumps(letter), DEAD_LETTER_HEADERS)
        self._letters_sent.inc()
        self.dead_lettered += 1

    def _send(self, topic: str, key: str | None, value: bytes, headers: Headers) -> None:
        raw_key = key.encode("utf-8") if key is not None else None
        future = self._producer.send(topic, key=raw_key, value=value, headers=list(headers))
        self.sent += 1
        future.add_callback(self._on_delivered)
        future.add_errback(self._on_error, topic, key)

    def _on_delivered(self, _metadata: Any) -> None:
        with self._lock:
            self.delivered += 1
        self._acked.inc()

    def _on_error(self, exc: BaseException, topic: str, key: str | None) -> None:
        with self._lock:
            self.errors.append(f"{topic} key={key}: {type(exc).__name__}: {exc}")
        self._refused.inc()
        log.error("Kafka refused a record for %s (key %s): %s", topic, key, exc)

    # --- completion --------------------------------------------------------------------------
    def flush(self, timeout: float | None = 120.0) -> None:
        """Wait for every acknowledgement; raise :class:`DeliveryError` if any record failed."""
        try:
            self._producer.flush(timeout=timeout)
        except KafkaTimeoutError:
            raise DeliveryError(
                f"Kafka did not acknowledge {self.sent - self.delivered} record(s) within {timeout:.0f}s; "
                "check that the brokers are up (`ascolto stack status`) and publish again (replays are idempotent)."
            ) from None
        if self.errors:
            raise DeliveryError(
                f"Kafka refused {len(self.errors)} of {self.sent} record(s) (first: {self.errors[0]}); "
                "publish the input again once fixed (replays are idempotent)."
            )

    def close(self) -> None:
        self._producer.close(timeout=10)

    def __enter__(self) -> PostProducer:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                self.flush()
            else:
                # Still deliver what was handed over before the failure.
                self._producer.flush(timeout=30)
        finally:
            self.close()
