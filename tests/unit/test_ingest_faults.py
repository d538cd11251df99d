"""The ingest edge under hostile input: one bad post never stops a replay, and nothing is lost.

Kafka is replaced by a recording stand-in (:class:`FakeKafka`) that behaves like kafka-python's
producer where it matters here: it refuses records over ``max_request_size`` when they are sent,
and its ``flush`` raises ``KafkaTimeoutError`` while the brokers are away.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from kafka.future import Future

import connectors.producer as producer_module
from connectors.base import Rejected, publish_all
from connectors.file import FileSource
from connectors.producer import PostProducer
from core.errors import ConfigError
from core.kafka import TopicNames
from core.settings import Settings
from schemas import dead_letter, dumps, raw_post, to_rfc3339, validate


def nested(depth: int) -> dict[str, Any]:
    inner: dict[str, Any] = {}
    outer = inner
    for _ in range(depth):
        inner["a"] = {}
        inner = inner["a"]
    return outer


def original_of(letter: dict[str, Any]) -> bytes:
    if letter["original_encoding"] == "base64":
        return base64.b64decode(letter["original"])
    return letter["original"].encode()


# --- a recording stand-in for kafka-python's producer ---------------------------------------------
class FakeKafka:
    def __init__(self, **config: Any) -> None:
        self.config = config
        self.records: list[tuple[str, bytes | None, bytes]] = []
        self.pending: list[Future] = []

    down = False  # the brokers are away: records wait, and flush times out

    def send(self, topic: str, key: bytes | None = None, value: bytes = b"", headers: Any = None) -> Future:
        size = len(value) + len(key or b"") + sum(len(k) + len(v) for k, v in headers or [])
        if size > self.config["max_request_size"]:
            raise MessageSizeTooLargeError(f"The message is {size} bytes when serialized")
        future = Future()
        if self.down:
            self.pending.append(future)
        else:
            self.records.append((topic, key, value))
            future.success(None)
        return future

    def flush(self, timeout: float | None = None) -> None:
        if self.pending:
            raise KafkaTimeoutError(f"Timeout after waiting for {timeout} secs.")

    def close(self, timeout: float | None = None) -> None:
        pass

    def on(self, topic: str) -> list[tuple[bytes | None, bytes]]:
        return [(k, v) for t, k, v in self.records if t == topic]


@pytest.fixture
def kafka(monkeypatch: pytest.MonkeyPatch) -> list[FakeKafka]:
    made: list[FakeKafka] = []

    def factory(**config: Any) -> FakeKafka:
        made.append(FakeKafka(**config))
        return made[-1]

    monkeypatch.setattr(producer_module, "KafkaProducer", factory)
    monkeypatch.setattr(producer_module, "ensure_topics", lambda settings: TopicNames.of(settings))
    return made


def settings(**over: Any) -> Settings:
    return Settings(kafka_brokers="127.0.0.1:1", **over)


# --- dead letters always fit ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "original",
    [
        b'{"text": "' + b'\\"\x01' * 400_000 + b'"}',  # JSON escaping grows it about fourfold
        os.urandom(1_500_000),  # not UTF-8: base64 grows it by a third
        "è".encode() * 700_000,  # a cut must not split a character
    ],
    ids=["escaped-text", "binary", "multibyte"],
)
def test_a_dead_letter_of_oversized_input_fits_the_limit_and_says_what_it_was(original):
    limit = 1024 * 1024
    letter = dead_letter("connector:file", "line 1: too long", original, max_bytes=limit)
    validate("dead_letter", letter)
    assert len(dumps(letter)) <= limit
    kept = original_of(letter)
    assert letter["truncated"] is True
    assert original.startswith(kept) and len(kept) > limit // 8
    assert letter["original_bytes"] == len(original)
    assert letter["original_sha256"] == hashlib.sha256(original).hexdigest()


def test_a_small_dead_letter_keeps_everything_and_no_truncation_fields():
    letter = dead_letter("decode", "why", b"\xff\x00", max_bytes=1024 * 1024)
    assert original_of(letter) == b"\xff\x00"
    assert "truncated" not in letter and "original_sha256" not in letter


# --- timestamps ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", 99999999999999999, True, float("nan")]
)
def test_unrepresentable_times_are_a_value_error_with_the_reason(value):
    with pytest.raises(ValueError, match="created_at"):
        to_rfc3339(value)


# --- the producer: one post never stops the others --------------------------------------------------
def test_a_post_that_cannot_be_serialised_is_dead_lettered_and_the_next_is_published(kafka):
    poison = dict(raw_post(source="t", native_id=1, text="deep", raw=nested(300)))
    fine = raw_post(source="t", native_id=2, text="fine")
    with PostProducer(settings(), stage="connector:t") as producer:
        report = publish_all(iter_source([poison, fine]), producer)
    assert (report.published, report.rejected) == (1, 1)
    topics = TopicNames.of(settings())
    assert [k for k, _ in kafka[0].on(topics.raw)] == [b"t:2"]
    [(key, value)] = kafka[0].on(topics.dlq)
    letter = orjson.loads(value)
    validate("dead_letter", letter)
    assert key == b"t:1" and "JSON" in letter["error"]
    assert b'"deep"' in original_of(letter)


def test_a_post_over_the_message_limit_is_dead_lettered_within_the_limit(kafka):
    limit = 1024 * 1024
    big = raw_post(source="t", native_id=1, text="big", raw={"blob": "x" * (3 * limit)})
    fine = raw_post(source="t", native_id=2, text="fine")
    with PostProducer(settings(max_message_bytes=limit), stage="connector:t") as producer:
        report = publish_all(iter_source([big, fine]), producer)
    assert (report.published, report.rejected) == (1, 1)
    topics = TopicNames.of(settings())
    [(_, value)] = kafka[0].on(topics.dlq)
    letter = orjson.loads(value)
    assert len(value) <= limit and letter["truncated"] and "ASCOLTO_MAX_MESSAGE_BYTES" in letter["error"]
    assert [k for k, _ in kafka[0].on(topics.raw)] == [b"t:2"]


def test_a_rejected_line_over_the_limit_is_dead_lettered_within_the_limit(kafka):
    limit = 1024 * 1024
    with PostProducer(settings(max_message_bytes=limit), stage="connector:t") as producer:
        report = publish_all(iter_source([Rejected(b"{" + b"x" * (5 * limit), "line 1: not JSON")]), producer)
    assert report.rejected == 1
    [(_, value)] = kafka[0].on(TopicNames.of(settings()).dlq)
    assert len(value) <= limit


def test_a_refused_record_is_logged_with_its_topic_and_key_in_place(kafka, caplog):
    producer = PostProducer(settings(), stage="connector:t")
    kafka[0].down = True
    producer.publish(raw_post(source="t", native_id=1, text="hi"))
    with caplog.at_level(logging.ERROR, logger="connectors.producer"):
        kafka[0].pending[0].failure(KafkaTimeoutError("Expiring 1 record(s)"))
    topic = TopicNames.of(settings()).raw
    assert f"Kafka refused a record for {topic} (key t:1): " in caplog.text
    assert producer.errors == [f"{topic} key=t:1: KafkaTimeoutError: Expiring 1 record(s)"]


def test_kafka_gone_during_a_replay_prints_one_sentence_not_a_traceback(kafka, monkeypatch, tmp_path, capsys):
    from ascolto.cli.main import main

    path = tmp_path / "p.jsonl"
    path.write_text('{"text": "hello"}\n{"text": "world"}\n')
    monkeypatch.setattr(FakeKafka, "down", True)  # Kafka answered at start, then went away
    monkeypatch.setattr(sys, "argv", ["ascolto", "connect", "file", str(path)])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 1
    assert "Traceback" not in err and "During handling" not in err
    assert "Kafka did not acknowledge 2 record(s)" in err and err.count("error:") == 1


def iter_source(items: list[Any]):
    from connectors.base import Source

    class Listed(Source):
        name = "t"

        def __iter__(self):
            return iter(items)

    return Listed()


# --- the file source -----------------------------------------------------------------------------
def test_jsonl_rows_that_break_serialisation_are_rejected_and_the_replay_goes_on(tmp_path):
    path = tmp_path / "p.jsonl"
    row = {"text": "deep", "extra": nested(300)}
    path.write_text(json.dumps(row) + "\n" + '{"text": "after"}\n')
    items = list(FileSource(path))
    assert len(items) == 2
    assert items[1]["text"] == "after"


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_an_unterminated_csv_quote_is_dead_lettered_and_the_rows_after_it_are_published(tmp_path):
    path = write_csv(
        tmp_path / "p.csv",
        'id,text,author\n1,first,anna\n2,"broken,bob\n3,third,carl\n4,"quoted, fine",dora\n5,fifth,eve\n',
    )
    items = list(FileSource(path))
    posts = {i["native_id"]: i["text"] for i in items if not isinstance(i, Rejected)}
    rejects = [i for i in items if isinstance(i, Rejected)]
    assert posts == {"1": "first", "3": "third", "4": "quoted, fine", "5": "fifth"}
    [broken] = rejects
    assert broken.reason.startswith("line 3:") and broken.original == b'2,"broken,bob'


def test_an_unterminated_quote_on_the_last_row_swallows_nothing_else(tmp_path):
    path = write_csv(tmp_path / "p.csv", 'id,text\n1,first\n2,"never closed\n3,third\n')
    items = list(FileSource(path))
    assert [i["native_id"] for i in items if not isinstance(i, Rejected)] == ["1", "3"]
    [broken] = [i for i in items if isinstance(i, Rejected)]
    assert broken.reason.startswith("line 3:")


def test_legitimate_multiline_csv_fields_still_work(tmp_path):
    path = tmp_path / "p.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "author"])
        writer.writerow(["1", 'line one\n2,looks,like a row\nsays "hi", ok', "anna"])
        writer.writerow(["2", "second", "bob"])
    items = list(FileSource(path))
    assert [i["text"] for i in items] == ['line one\n2,looks,like a row\nsays "hi", ok', "second"]


def test_csv_rows_with_the_wrong_number_of_fields_are_rejected_with_their_line(tmp_path):
    path = write_csv(tmp_path / "p.csv", "id,text,author\n1,ok,anna\n2,too,many,fields\n3,few\n4,fine,dora\n")
    items = list(FileSource(path))
    assert [i["native_id"] for i in items if not isinstance(i, Rejected)] == ["1", "4"]
    reasons = [i.reason for i in items if isinstance(i, Rejected)]
    assert [r.split(":")[0] for r in reasons] == ["line 3", "line 4"]
    assert "4 fields" in reasons[0] and "3 columns" in reasons[0]


# --- ascolto enrich ----------------------------------------------------------------------------------
def test_enrich_reports_poison_and_binary_lines_and_enriches_the_rest(tmp_path):
    deep = raw_post(source="t", native_id=1, text="deep", raw=nested(300))
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        json.dumps(deep).encode()
        + b"\n"
        + b"\xff\xfe\x00garbage\x9c\n"
        + bytes(range(1, 9)) * 4
        + b"\n"
        + b"Servizio ottimo, grazie!"
        + b"\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "ascolto", "enrich", str(path)],
        capture_output=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    enriched = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [p["text"] for p in enriched] == ["Servizio ottimo, grazie!"]
    for lineno in (1, 2, 3):
        assert f"line {lineno} (" in stderr
    assert "not UTF-8" in stderr and "control characters" in stderr


def test_enrich_turns_any_exception_of_one_line_into_that_lines_error(monkeypatch):
    from ascolto.cli import enrich_cmd
    from streams.processing import Failed

    def boom(chain: Any, value: bytes) -> Any:
        raise RuntimeError("boom")

    monkeypatch.setattr(enrich_cmd, "enrich_message", boom)
    outcome = enrich_cmd._enrich_line(None, b'{"id": "t:1"}')  # type: ignore[arg-type]
    assert isinstance(outcome, Failed) and "RuntimeError: boom" in outcome.reason


# --- credentials in the broker list --------------------------------------------------------------
@pytest.mark.parametrize("brokers", ["alice:s3cr3t@kafka.example:9092", "SASL_SSL://alice:s3cr3t@kafka.example:9092"])
def test_credentials_in_the_broker_list_are_refused_without_being_echoed(brokers):
    with pytest.raises(ConfigError) as caught:
        Settings(kafka_brokers=brokers)
    message = str(caught.value)
    assert "s3cr3t" not in message and "alice" not in message
    assert "ASCOLTO_KAFKA_USERNAME" in message and "ASCOLTO_KAFKA_PASSWORD" in message


def test_the_safe_broker_list_masks_anything_before_an_at_sign():
    s = Settings(kafka_brokers="a:9092,b:9092")
    assert s.kafka_brokers_safe == "a:9092,b:9092"
    object.__setattr__(s, "kafka_brokers", "u:pw@a:9092,b:9092")
    assert s.kafka_brokers_safe == "***@a:9092,b:9092"
