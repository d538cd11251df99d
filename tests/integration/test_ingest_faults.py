"""`ascolto connect file` against the real Kafka: a hostile row becomes a dead letter and the rows
after it are still published (issue 9: a poison post, a 50 MB line, an epoch out of range, a
stray CSV quote)."""

from __future__ import annotations

import base64
import json

import orjson

from schemas import raw_post, validate


def nested(depth: int) -> dict:
    inner: dict = {}
    outer = inner
    for _ in range(depth):
        inner["a"] = {}
        inner = inner["a"]
    return outer


def original_of(letter: dict) -> bytes:
    if letter["original_encoding"] == "base64":
        return base64.b64decode(letter["original"])
    return letter["original"].encode()


def test_hostile_jsonl_rows_are_dead_lettered_and_the_replay_goes_on(pipeline, tmp_path):
    huge = b'{"id": "huge", "text": "' + b"x" * (50 * 1024 * 1024) + b'"}'
    lines = [
        json.dumps(dict(raw_post(source="file", native_id="deep", text="deep", raw=nested(300)))).encode(),
        b'{"id": "ok1", "text": "after the poison post"}',
        huge,
        b'{"id": "ok2", "text": "after the 50 MB line"}',
        b'{"id": "far", "text": "a time out of range", "created_at": 99999999999999999}',
        b'{"id": "ok3", "text": "after the bad time"}',
    ]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    result = pipeline.cli("connect", "file", str(path), check=False)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr

    posts = [orjson.loads(r.value) for r in pipeline.read(pipeline.topics.raw, expected=3)]
    assert sorted(p["id"] for p in posts) == ["file:ok1", "file:ok2", "file:ok3"]

    records = pipeline.read(pipeline.topics.dlq, expected=3)
    letters = [orjson.loads(r.value) for r in records]
    assert len(letters) == 3
    for record, letter in zip(records, letters, strict=True):
        validate("dead_letter", letter)
        assert len(record.value) <= pipeline.settings.max_message_bytes
    deep, big, far = sorted(letters, key=lambda letter: lines.index(_line_of(letter, lines)))
    assert "JSON" in deep["error"] and b'"deep"' in original_of(deep)
    assert "100000" in big["error"] and big["truncated"] is True
    assert big["original_bytes"] > 50 * 1024 * 1024
    assert original_of(big).startswith(b'{"id":"file:huge"')
    assert "out of range" in far["error"] and original_of(far) == lines[4]


def _line_of(letter: dict, lines: list[bytes]) -> bytes:
    original = original_of(letter)
    if original.startswith(b'{"id":"file:huge"'):
        return lines[2]
    if b'"deep"' in original:
        return lines[0]
    return lines[4]


def test_an_unterminated_csv_quote_costs_one_row(pipeline, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text('id,text,author\n1,first,anna\n2,"never closed,bob\n3,third,carl\n4,"fourth, quoted",dora\n')

    result = pipeline.cli("connect", "file", str(path), check=False)
    assert result.returncode == 0, result.stderr

    posts = [orjson.loads(r.value) for r in pipeline.read(pipeline.topics.raw, expected=3)]
    assert sorted(p["text"] for p in posts) == ["first", "fourth, quoted", "third"]
    [letter] = [orjson.loads(r.value) for r in pipeline.read(pipeline.topics.dlq, expected=1)]
    assert letter["error"].startswith("line 3:") and original_of(letter) == b'2,"never closed,bob'
