"""Which dead letters `ascolto dlq replay` sends back, where and how; parsing what a user types."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest
from typer.testing import CliRunner

from ascolto.cli.main import app
from connectors.dead_letter_replay import (
    REPLAY_HEADER,
    Resend,
    StoredLetter,
    parse_ref,
    parse_since,
    plan_replay,
    replay_plan,
)
from core.kafka import TopicNames
from core.settings import Settings
from schemas import dead_letter, dumps, validate

NAMES = TopicNames.of(Settings(topic_prefix="t."))
RAW_POST = b'{"id":"test:1","text":"ciao"}'


def stored(
    stage: str = "enrich:flaky",
    original: bytes | None = RAW_POST,
    *,
    topic: str | None = NAMES.raw,
    key: bytes | None = b"test:1",
    offset: int = 7,
    **extra: object,
) -> StoredLetter:
    letter = dict(dead_letter(stage, "it failed", original, topic=topic, partition=2, offset=40))
    letter.update(extra)
    return StoredLetter.from_record(3, offset, 1_700_000_000_000, key, dumps(letter))


def test_an_enrich_failure_goes_back_to_posts_raw_under_its_key_with_the_raw_headers():
    decision = replay_plan(stored(), NAMES, dlq_topic=NAMES.dlq)
    assert isinstance(decision, Resend)
    assert (decision.topic, decision.key, decision.value) == (NAMES.raw, b"test:1", RAW_POST)
    headers = dict(decision.headers)
    assert headers["ascolto-schema"] == b"raw_post/1"
    assert headers[REPLAY_HEADER] == f"{NAMES.dlq}:3:7".encode()


def test_an_index_failure_goes_back_to_posts_enriched():
    decision = replay_plan(stored("index", topic=NAMES.enriched), NAMES, dlq_topic=NAMES.dlq)
    assert isinstance(decision, Resend)
    assert decision.topic == NAMES.enriched
    assert dict(decision.headers)["ascolto-schema"] == b"enriched_post/1"


def test_binary_originals_are_replayed_byte_for_byte():
    binary = b"\xff\x00caf\xe9"
    letter = stored("index", binary, topic=NAMES.enriched)
    assert letter.letter is not None and letter.letter["original_encoding"] == "base64"
    decision = replay_plan(letter, NAMES, dlq_topic=NAMES.dlq)
    assert isinstance(decision, Resend) and decision.value == binary


@pytest.mark.parametrize(
    ("letter", "reason"),
    [
        (stored("connector:file", topic=None), "rejected by a connector"),
        (stored(topic="elsewhere.posts.raw"), "not this deployment's"),
        (stored("validate"), "malformed input (validate)"),
        (stored("decode", b"{not json"), "malformed input (decode)"),
        (stored(original=None), "no original value"),
        (stored(truncated=True), "original truncated"),
        (StoredLetter.from_record(0, 1, 0, b"k", b"not json"), "not a DeadLetter"),
    ],
)
def test_what_cannot_be_replayed_is_skipped_with_a_reason(letter: StoredLetter, reason: str):
    decision = replay_plan(letter, NAMES, dlq_topic=NAMES.dlq)
    assert isinstance(decision, str) and reason in decision


def test_an_original_the_builder_had_to_truncate_is_skipped():
    letter = dead_letter("index", "too large", b"x" * 20_000, topic=NAMES.enriched, max_bytes=10_000)
    assert letter.get("truncated") is True
    decision = replay_plan(StoredLetter.from_record(0, 1, 0, b"k", dumps(letter)), NAMES, dlq_topic=NAMES.dlq)
    assert decision == "original truncated"


def test_base64_that_does_not_decode_is_skipped():
    letter = stored("index", topic=NAMES.enriched)
    assert letter.letter is not None
    broken = {**letter.letter, "original": "%%%", "original_encoding": "base64"}
    decision = replay_plan(StoredLetter.from_record(0, 1, 0, b"k", dumps(broken)), NAMES, dlq_topic=NAMES.dlq)
    assert decision == "original not decodable"


def test_malformed_input_is_replayed_when_its_stage_is_named():
    letters = [stored("validate", offset=1), stored("enrich:flaky", b'{"id":"test:2"}', key=b"test:2", offset=2)]
    by_default = [d for _, d in plan_replay(letters, NAMES)]
    assert isinstance(by_default[0], str) and isinstance(by_default[1], Resend)
    named = [d for _, d in plan_replay(letters, NAMES, stages=["validate"])]
    assert len(named) == 1 and isinstance(named[0], Resend)


def test_stage_filter_matches_a_family_or_one_stage():
    letters = [stored("enrich:flaky"), stored("enrich:sentiment"), stored("index", topic=NAMES.enriched)]
    assert [s.stage for s, _ in plan_replay(letters, NAMES, stages=["enrich"])] == ["enrich:flaky", "enrich:sentiment"]
    assert [s.stage for s, _ in plan_replay(letters, NAMES, stages=["enrich:sentiment"])] == ["enrich:sentiment"]


def test_a_post_that_failed_twice_is_sent_once():
    decisions = [d for _, d in plan_replay([stored(offset=1), stored(offset=2)], NAMES)]
    assert isinstance(decisions[0], Resend)
    assert decisions[1] == "same original as an earlier dead letter"


def test_letters_with_contract_fields_added_later_are_still_read():
    letter = stored("index", topic=NAMES.enriched, original_sha256="ab" * 32)
    assert isinstance(replay_plan(letter, NAMES, dlq_topic=NAMES.dlq), Resend)


def test_since_takes_a_time_or_a_duration_ago():
    now = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_since("2h", now) == datetime(2025, 3, 10, 10, 0, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    assert parse_since("2025-03-01", now) == datetime(2025, 3, 1, tzinfo=UTC)
    assert parse_since("2025-03-01T08:00:00+02:00", now) == datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="neither a time"):
        parse_since("yesterday", now)


def test_ref_is_partition_offset_or_else_a_post_id():
    assert parse_ref("3:17") == (3, 17)
    assert parse_ref("test:abc") is None


def test_a_bad_since_is_one_sentence_before_kafka_is_asked():
    result = CliRunner().invoke(app, ["dlq", "list", "--since", "yesterday"])
    assert result.exit_code == 2
    assert "neither a time" in result.output
    assert "Traceback" not in result.output


def test_the_builder_letters_used_here_are_valid_dead_letters():
    letter = stored()
    assert letter.letter is not None
    validate("dead_letter", letter.letter)
    assert base64.b64decode(stored(original=b"\xff").letter["original"]) == b"\xff"  # type: ignore[index]
    assert orjson.loads(letter.original() or b"") == {"id": "test:1", "text": "ciao"}
