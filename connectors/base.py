"""Sources: small classes that yield RawPosts (or rejects), and the loop that publishes them."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from connectors.producer import PostProducer, as_bytes
from core.errors import AscoltoError
from schemas import RawPost


@dataclass(frozen=True)
class Rejected:
    """Input a source could not turn into a RawPost: the original bytes and why."""

    original: bytes
    reason: str


class Source(ABC):
    """A connector's input. Subclasses set ``name`` (the ``source`` of their posts) and yield items."""

    name: str

    @abstractmethod
    def __iter__(self) -> Iterator[RawPost | Rejected]: ...

    def estimated_total(self) -> int | None:
        """How many items to expect, for a progress bar; None when unknown or endless."""
        return None


class Pacer:
    """Spaces calls to :meth:`wait` at ``rate`` per second (no limit when rate is None or 0).

    The schedule runs from the first call, not from the previous one, so rounding never drifts.
    """

    def __init__(self, rate: float | None) -> None:
        self.rate = rate
        self._start: float | None = None
        self._count = 0

    def wait(self) -> None:
        if not self.rate:
            return
        now = time.monotonic()
        if self._start is None:
            self._start = now
        delay = self._start + self._count / self.rate - now
        if delay > 0:
            time.sleep(delay)
        self._count += 1


@dataclass
class PublishReport:
    published: int = 0
    rejected: int = 0
    seconds: float = 0.0


def publish_all(
    source: Source,
    producer: PostProducer,
    *,
    rate: float | None = None,
    on_item: Callable[[], None] | None = None,
) -> PublishReport:
    """Publish every item of ``source``; at most ``rate`` items per second when given. Flushes at the end.

    Whatever goes wrong with one item becomes its dead letter, with the reason; only Kafka itself
    failing (:class:`~core.errors.DeliveryError`) ends the run.
    """
    report = PublishReport()
    start = time.monotonic()
    pacer = Pacer(rate)
    for item in source:
        pacer.wait()
        if isinstance(item, Rejected):
            producer.reject(item.original, item.reason)
            report.rejected += 1
        elif publish_one(producer, item):
            report.published += 1
        else:
            report.rejected += 1
        if on_item:
            on_item()
    producer.flush()
    report.seconds = time.monotonic() - start
    return report


def publish_one(producer: PostProducer, post: RawPost) -> bool:
    try:
        return producer.publish(post)
    except AscoltoError:
        raise
    except Exception as exc:  # one post's surprise must not end a replay: it is dead-lettered instead
        key = post.get("id") if isinstance(post, dict) else None
        producer.reject(
            as_bytes(post),
            f"the post could not be published ({type(exc).__name__}: {exc})",
            key=key if isinstance(key, str) and key else None,
        )
        return False
