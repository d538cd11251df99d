import csv

import orjson
import pytest

from connectors.base import Rejected
from connectors.file import Columns, FileSource
from core.errors import AscoltoError
from schemas import to_rfc3339, validate


def test_jsonl_rows_map_to_valid_posts_and_bad_lines_are_rejected(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_bytes(
        b'{"id": 7, "text": "bolletta sbagliata", "created_at": "2026-03-01T10:00:00+01:00", '
        b'"author": "anna", "lang": "it", "likes": 3}\n'
        b"\n"
        b"{broken\n"
        b'{"text": ""}\n'
        b"[1,2]\n"
        b'{"text": "no id here", "created_at": 1767225600}\n'
    )
    items = list(FileSource(path))
    posts = [i for i in items if not isinstance(i, Rejected)]
    rejects = [i for i in items if isinstance(i, Rejected)]
    assert len(posts) == 2 and len(rejects) == 3
    first = posts[0]
    validate("raw_post", first)
    assert first["id"] == "file:7"
    assert first["created_at"] == "2026-03-01T09:00:00.000Z"
    assert first["author"]["handle"] == "anna"
    assert first["lang_hint"] == "it"
    assert first["raw"] == {"likes": 3}
    assert posts[1]["created_at"] == "2026-01-01T00:00:00.000Z"
    assert [r.reason.split(":")[0] for r in rejects] == ["line 3", "line 4", "line 5"]
    assert rejects[0].original == b"{broken"


def test_id_from_content_is_stable_across_replays(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"text": "same text", "created_at": "2026-01-01T00:00:00Z"}\n')
    assert next(iter(FileSource(path)))["id"] == next(iter(FileSource(path)))["id"]


def test_raw_post_lines_pass_through(tmp_path):
    post = {
        "id": "mastodon:1",
        "source": "mastodon",
        "native_id": "1",
        "text": "hi",
        "created_at": "2026-01-01T00:00:00Z",
        "author": {"id": "a", "handle": "a"},
        "schema_version": 1,
    }
    path = tmp_path / "p.ndjson"
    path.write_bytes(orjson.dumps(post) + b"\n")
    assert list(FileSource(path)) == [post]


def test_csv_with_custom_columns(tmp_path):
    path = tmp_path / "export.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["tweet_id", "body", "when", "user"])
        w.writerow(["101", "Attesa infinita, vergogna\nsecondo rigo", "2026-02-02 08:00:00", "luca"])
        w.writerow(["102", "", "2026-02-02 08:01:00", "sara"])
        w.writerow(["103", "Thanks!", "not a date", "tom"])
    src = FileSource(path, columns=Columns(id="tweet_id", text="body", created_at="when", author="user"), source="x")
    assert src.estimated_total() == 4  # one multi-line row counts twice in a line estimate
    items = list(src)
    assert items[0]["id"] == "x:101"
    assert items[0]["text"] == "Attesa infinita, vergogna\nsecondo rigo"
    assert items[0]["created_at"] == "2026-02-02T08:00:00.000Z"
    assert isinstance(items[1], Rejected) and "no text" in items[1].reason
    assert isinstance(items[2], Rejected) and "not a date" in items[2].reason


def test_csv_without_text_column_is_a_clear_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(AscoltoError, match="--text-column"):
        list(FileSource(path))


def test_non_utf8_csv_is_a_clear_error(tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes("text\nperch\xe9\n".encode("latin-1"))
    with pytest.raises(AscoltoError, match="not UTF-8"):
        list(FileSource(path))


def test_unknown_suffix_and_missing_file(tmp_path):
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(AscoltoError, match="--format"):
        FileSource(tmp_path / "x.txt")
    with pytest.raises(AscoltoError, match="No such file"):
        FileSource(tmp_path / "missing.jsonl")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000Z"),
        ("2026-01-01 02:00:00+02:00", "2026-01-01T00:00:00.000Z"),
        (1767225600, "2026-01-01T00:00:00.000Z"),
        ("1767225600000", "2026-01-01T00:00:00.000Z"),
    ],
)
def test_timestamps_normalise_to_utc(value, expected):
    assert to_rfc3339(value) == expected
