"""The worker's log while Kafka is away: repeated client errors collapse, one sentence says what to do."""

from __future__ import annotations

import asyncio
import logging

import pytest
from mode.utils.logging import ExtensionFormatter

from ascolto.log_limits import KafkaOutageNotice, RepeatLimiter, brokers_accept
from ascolto.testing import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def captured():
    """A handler on a private logger tree, as the worker's root handler sees records."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    loggers = [logging.getLogger(n) for n in ("aiokafka", "aiokafka.consumer.fetcher", "ascolto.worker", "mine")]
    for lg in loggers:
        lg.handlers, lg.propagate, lg.level = [], True, logging.NOTSET
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield handler, records
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_first_record_passes_then_one_per_interval_with_the_count(captured):
    handler, records = captured
    clock = Clock()
    handler.addFilter(RepeatLimiter(30, clock=clock))
    noisy = logging.getLogger("aiokafka")
    for i in range(500):  # ~150 a second for a few seconds, as with Kafka down
        clock.now += 0.007
        noisy.error("Unable connect to node with id %s: %s", 1, f"attempt {i}")
    assert [r.getMessage() for r in records] == ["Unable connect to node with id 1: attempt 0"]

    clock.now += 30
    noisy.error("Unable connect to node with id %s: %s", 1, "attempt 500")
    assert records[-1].getMessage() == "Unable connect to node with id 1: attempt 500 (repeated 499 times in 33 s)"
    # Faust's (mode's) formatter prints it as is.
    assert "(repeated 499 times in 33 s)" in ExtensionFormatter(fmt="%(message)s").format(records[-1])
    # The window starts again: the next one right after is held back.
    noisy.error("Unable connect to node with id %s: %s", 1, "attempt 501")
    assert len(records) == 2


def test_kinds_are_counted_apart_and_other_loggers_are_untouched(captured):
    handler, records = captured
    handler.addFilter(RepeatLimiter(30, clock=Clock()))
    fetcher = logging.getLogger("aiokafka.consumer.fetcher")
    for _ in range(10):
        fetcher.error("Failed fetch messages from %s: %s", 1, "NodeNotReadyError")
        logging.getLogger("aiokafka").error("Unable to update metadata from %s", [1])
        logging.getLogger("mine").warning("offset commit failed (%s)", "x")  # not a noisy logger
    messages = [r.getMessage() for r in records]
    assert messages.count("Failed fetch messages from 1: NodeNotReadyError") == 1
    assert messages.count("Unable to update metadata from [1]") == 1
    assert messages.count("offset commit failed (x)") == 10


def test_a_record_is_counted_once_however_many_handlers_share_the_filter(captured):
    handler, records = captured
    clock = Clock()
    limiter = RepeatLimiter(30, clock=clock)
    handler.addFilter(limiter)
    second: list[logging.LogRecord] = []
    other = logging.Handler()
    other.emit = second.append  # type: ignore[method-assign]
    other.addFilter(limiter)
    logging.getLogger().addHandler(other)
    try:
        for _ in range(3):
            logging.getLogger("aiokafka").error("Unable to update metadata from %s", [1])
    finally:
        logging.getLogger().removeHandler(other)
    assert len(records) == len(second) == 1
    clock.now += 31
    logging.getLogger().addHandler(other)
    try:
        logging.getLogger("aiokafka").error("Unable to update metadata from %s", [1])
    finally:
        logging.getLogger().removeHandler(other)
    assert records[-1].getMessage().endswith("(repeated 2 times in 31 s)")
    assert second[-1].getMessage() == records[-1].getMessage()


def test_zero_interval_keeps_every_record(captured):
    handler, records = captured
    handler.addFilter(RepeatLimiter(0))
    for _ in range(5):
        logging.getLogger("aiokafka").error("Unable to update metadata from %s", [1])
    assert len(records) == 5


def test_outage_is_announced_once_in_one_sentence_and_its_end_too(captured):
    handler, records = captured
    notice = KafkaOutageNotice("127.0.0.1:19092", 30)
    handler.addFilter(notice)
    handler.addFilter(RepeatLimiter(30))
    for _ in range(200):
        logging.getLogger("aiokafka").error("Unable connect to node with id %s: %s", 1, "refused")
        logging.getLogger("aiokafka").error("Unable to update metadata from %s", [1])
    sentences = [r.getMessage() for r in records if r.name == "ascolto.worker"]
    assert len(sentences) == 1
    assert "Kafka at 127.0.0.1:19092 is unreachable" in sentences[0]
    assert "ASCOLTO_KAFKA_BROKERS" in sentences[0] and "ascolto stack status" in sentences[0]
    assert len(records) == 3  # the sentence and the first of each kind

    answers = iter([False, True])

    async def probe() -> bool:
        return next(answers)

    async def watch_until_back() -> None:
        task = asyncio.create_task(notice.watch(probe, every=0.01))
        while notice.down_since is not None:
            await asyncio.sleep(0.01)
        task.cancel()

    asyncio.run(asyncio.wait_for(watch_until_back(), 5))
    assert records[-1].getMessage().startswith("Kafka at 127.0.0.1:19092 answers again")
    # A later outage is announced again.
    logging.getLogger("aiokafka").error("Unable to bootstrap from %s", ["127.0.0.1:19092"])
    assert sum(r.name == "ascolto.worker" and "unreachable" in r.getMessage() for r in records) == 2


def test_brokers_accept_tells_a_listening_port_from_a_closed_one():
    async def check() -> tuple[bool, bool]:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            listening = await brokers_accept([f"127.0.0.1:{free_port()}", f"127.0.0.1:{port}"])
        return listening, await brokers_accept([f"127.0.0.1:{free_port()}"])

    assert asyncio.run(check()) == (True, False)
