"""Keep the worker's log readable while Kafka is away.

With Kafka down, aiokafka logs every failed reconnect, metadata refresh and fetch: about 150
ERROR lines a second that say the same four things. :class:`RepeatLimiter` lets the first record
of each kind through, then at most one every ``interval`` seconds carrying how many it stood for;
:class:`KafkaOutageNotice` says once, in one sentence, that Kafka is unreachable and what to do,
and once more when it answers again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

#: Loggers of the Kafka clients and Faust: the ones that repeat themselves during an outage.
NOISY_LOGGERS = ("aiokafka", "kafka", "faust", "mode")

# Templates aiokafka logs when it cannot reach a broker (client.py), whatever the cause.
_CONNECTION_FAILURES = ("Unable connect to", "Unable to update metadata", "Unable to bootstrap")

log = logging.getLogger("ascolto.worker")


def _matches(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


class RepeatLimiter(logging.Filter):
    """A handler filter: per logger and message template, the first record, then one per ``interval`` s.

    The record that ends a quiet window says how many were held back: ``... (repeated 412 times
    in 30 s)``. Only loggers under ``prefixes`` are limited. The verdict is kept on the record,
    so the filter may sit on several handlers and still count each record once.
    """

    MAX_KINDS = 2000  # a logger that formats its own messages must not grow this without bound

    def __init__(
        self, interval: float, prefixes: Iterable[str] = NOISY_LOGGERS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval = interval
        self.prefixes = tuple(prefixes)
        self.clock = clock
        # (logger, level, template) -> [when the last one passed, how many were held back since]
        self._seen: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()

    def filter(self, record: logging.LogRecord) -> bool:
        verdict = getattr(record, "_ascolto_repeat_verdict", None)
        if verdict is not None:
            return bool(verdict)
        verdict = self._decide(record)
        record._ascolto_repeat_verdict = verdict
        return verdict

    def _decide(self, record: logging.LogRecord) -> bool:
        if self.interval <= 0 or not _matches(record.name, self.prefixes):
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = self.clock()
        seen = self._seen.get(key)
        if seen is None:
            self._seen[key] = [now, 0]
            if len(self._seen) > self.MAX_KINDS:
                self._seen.popitem(last=False)
            return True
        last, held = seen
        if now - last < self.interval:
            seen[1] = held + 1
            return False
        self._seen.move_to_end(key)
        seen[0], seen[1] = now, 0
        if held:
            # Formatted here, once: the handlers then print it as is.
            record.msg = f"{record.getMessage()} (repeated {int(held)} times in {now - last:.0f} s)"
            record.args = ()  # a tuple: Faust's formatter maps over the args
        return True


class KafkaOutageNotice(logging.Filter):
    """A handler filter that never drops anything: on the first broker connection failure it
    logs one sentence saying Kafka is unreachable and what to do; :meth:`watch` says when it is back."""

    def __init__(self, brokers: str, interval: float) -> None:
        super().__init__()
        self.brokers = brokers
        self.interval = interval
        self.down_since: float | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            self.down_since is None
            and record.levelno >= logging.WARNING
            and _matches(record.name, ("aiokafka", "kafka"))
            and str(record.msg).startswith(_CONNECTION_FAILURES)
        ):
            self.down_since = time.monotonic()
            log.error(
                "Kafka at %s is unreachable: the worker keeps retrying and carries on from its last committed "
                "offsets once Kafka answers, losing nothing; check that Kafka runs (`ascolto stack status` for the "
                "local stack) and that ASCOLTO_KAFKA_BROKERS names it. Repeated client errors are shown at most "
                "once every %.0f s meanwhile.",
                self.brokers,
                self.interval,
            )
        return True

    async def watch(self, probe: Callable[[], Awaitable[bool]], every: float = 2.0) -> None:
        """Run forever: while Kafka is marked unreachable, ``probe`` it every ``every`` s and say when it answers."""
        while True:
            await asyncio.sleep(every)
            if self.down_since is not None and await probe():
                log.warning(
                    "Kafka at %s answers again after %.0f s; the worker resumes.",
                    self.brokers,
                    time.monotonic() - self.down_since,
                )
                self.down_since = None


async def brokers_accept(brokers: Iterable[str], timeout: float = 2.0) -> bool:
    """True when at least one ``host:port`` accepts a TCP connection within ``timeout``."""
    for broker in brokers:
        host, _, port = broker.rpartition(":")
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host.strip("[]"), int(port)), timeout)
        except (TimeoutError, OSError, ValueError):
            continue
        writer.close()
        return True
    return False
