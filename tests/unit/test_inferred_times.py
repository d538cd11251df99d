"""Posts whose source gave no time are marked ``created_at_inferred``, by every connector, and the
mark travels to the index sink in a header (so it can keep replays beside their first copy)."""

from __future__ import annotations

from connectors.file import FileSource
from connectors.generator import GeneratorSource
from schemas import raw_post, validate
from schemas.wire import CREATED_AT_HEADER, CREATED_AT_INFERRED_HEADER, enriched_post_headers


def test_raw_post_marks_only_a_post_without_a_time_and_the_mark_is_valid():
    untimed = raw_post(source="s", native_id=1, text="hello")
    timed = raw_post(source="s", native_id=2, text="hello", created_at="2024-05-01T10:00:00+02:00")
    assert untimed["created_at_inferred"] is True
    assert "created_at_inferred" not in timed
    validate("raw_post", untimed)
    validate("raw_post", timed)


def test_file_rows_without_a_time_and_generated_posts_are_marked(tmp_path):
    path = tmp_path / "posts.csv"
    path.write_text("id,text,created_at\n1,with a time,2024-05-01T10:00:00Z\n", encoding="utf-8")
    [timed] = FileSource(path)
    assert "created_at_inferred" not in timed
    path = tmp_path / "untimed.jsonl"
    path.write_text('{"id": "1", "text": "no time here"}\n', encoding="utf-8")
    [untimed] = FileSource(path)
    assert untimed["created_at_inferred"] is True
    assert all(p["created_at_inferred"] for p in GeneratorSource(count=3, seed=1))


def test_enriched_record_headers_carry_the_mark_only_when_set():
    headers = dict(enriched_post_headers("2024-05-01T10:00:00Z", inferred=True))
    assert headers[CREATED_AT_HEADER] == b"2024-05-01T10:00:00Z" and headers[CREATED_AT_INFERRED_HEADER] == b"true"
    assert CREATED_AT_INFERRED_HEADER not in dict(enriched_post_headers("2024-05-01T10:00:00Z"))
