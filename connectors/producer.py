"""The one Kafka producer every connector uses: acks=all, idempotent, compressed, keyed by post id."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import orjson
from kafka import KafkaProducer
from kafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

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

#: Bytes of ASCOLTO_MAX_MESSAGE_BYTES a record's key, headers and framing may take beside the value.
RECORD_OVERHEAD = 1024


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
        self.max_message_bytes = settings.max_message_bytes
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
        """Validate and send a post; one that is invalid, cannot be written as JSON or is larger than
        ASCOLTO_MAX_MESSAGE_BYTES is dead-lettered instead. True if it was sent as a post."""
        key = str(post.get("id") or "") or None
        try:
            validate("raw_post", post)
        except InvalidMessage as exc:
            self.reject(as_bytes(post), exc.reason, key=key)
            return False
        try:
            value = dumps(post)
        except (TypeError, ValueError) as exc:  # orjson: nested too deep, a lone surrogate, a huge int
            self.reject(as_bytes(post), f"the post cannot be written as JSON ({exc})", key=key)
            return False
        limit = self.max_message_bytes - RECORD_OVERHEAD
        if len(value) > limit:
            self.reject(value, f"the post is {len(value)} bytes, over ASCOLTO_MAX_MESSAGE_BYTES ({limit})", key=key)
            return False
        try:
            self._send(self.topics.raw, post["id"], value, RAW_POST_HEADERS)
        except MessageSizeTooLargeError as exc:  # key and headers took more than RECORD_OVERHEAD
            self.reject(value, f"Kafka's size limit refused the post: {exc}", key=key)
            return False
        self._posts_sent.inc()
        return True

    def reject(self, original: bytes, reason: str, key: str | None = None) -> None:
        """Send input that could not become a RawPost to the dead-letter topic, with the reason.

        The letter fits ASCOLTO_MAX_MESSAGE_BYTES whatever the input's size (a larger original is
        kept as a prefix with its size and SHA-256), so rejecting never fails for size.
        """
        letter = dead_letter(self.stage, reason, original, max_bytes=self.max_message_bytes)
        try:
            self._send(self.topics.dlq, key, dumps(letter), DEAD_LETTER_HEADERS)
        except MessageSizeTooLargeError as exc:  # a key of kilobytes: counted, and reported by flush
            self._on_error(self.topics.dlq, key, exc)
            return
        self._letters_sent.inc()
        self.dead_lettered += 1

    def _send(self, topic: str, key: str | None, value: bytes, headers: Headers) -> None:
        raw_key = key.encode("utf-8") if key is not None else None
        try:
            future = self._producer.send(topic, key=raw_key, value=value, headers=list(headers))
        except KafkaTimeoutError:  # no metadata, or the send buffer stayed full: the brokers are away
            raise DeliveryError(
                f"Kafka stopped answering after {self.delivered} of {self.sent} record(s) were acknowledged; "
                "check that the brokers are up (`ascolto stack status`) and publish again (replays are idempotent)."
            ) from None
        self.sent += 1
        future.add_callback(self._on_delivered)
        future.add_errback(self._on_error, topic, key)

    def _on_delivered(self, _metadata: Any) -> None:
        with self._lock:
            self.delivered += 1
        self._acked.inc()

    def _on_error(self, topic: str, key: str | None, exc: BaseException) -> None:
        # kafka-python calls an errback with its bound arguments first and the exception last.
        with self._lock:
            # kafka-python's errors already start with their class name; others get it here.
            detail = str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"
            self.errors.append(f"{topic} key={key}: {detail}")
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
                # Still deliver what was handed over before the failure; the failure itself is the
                # one error to report, so Kafka being away too is only logged.
                try:
                    self._producer.flush(timeout=30)
                except KafkaError as flush_error:
                    log.warning("%d record(s) were not delivered: %s", self.sent - self.delivered, flush_error)
        finally:
            self.close()


def as_bytes(obj: Any) -> bytes:
    """``obj`` as JSON for a dead letter, whatever it holds: what orjson cannot write (nesting
    deeper than 254 levels, a lone surrogate) is written by the standard library, or replaced
    field by field with a note."""
    try:
        return orjson.dumps(obj)
    except (TypeError, ValueError):
        pass
    try:
        return json.dumps(obj, default=repr).encode("ascii")
    except (TypeError, ValueError, RecursionError):
        pass
    if isinstance(obj, dict):
        return json.dumps({str(k): _writable(v) for k, v in obj.items()}).encode("ascii")
    return json.dumps(_writable(obj)).encode("ascii")


def _writable(value: Any) -> Any:
    try:
        orjson.dumps(value)
        return value
    except (TypeError, ValueError):
        return f"<{type(value).__name__} that cannot be written as JSON>"
