"""``ascolto connect file``: replay a JSONL or CSV file of posts.

Rows that already are RawPost v1 objects are published as they are; other rows are mapped
through the configured columns. A row that cannot become a post goes to the dead-letter
topic with the line number and the reason, and the replay continues.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from connectors.base import Rejected, Source
from core.errors import AscoltoError
from schemas import RawPost, raw_post

# The csv module refuses fields over 128 KiB by default; long posts must reach validation
# (and the dead-letter topic) instead of aborting the replay.
csv.field_size_limit(64 * 1024 * 1024)


@dataclass(frozen=True)
class Columns:
    """Which input columns (or JSON keys) hold each post field."""

    id: str = "id"
    text: str = "text"
    created_at: str = "created_at"
    author: str = "author"
    lang: str = "lang"
    url: str = "url"


class FileSource(Source):
    """Posts from a JSONL (``.jsonl``/``.ndjson``/``.json``) or CSV (``.csv``/``.tsv``) file."""

    def __init__(
        self, path: Path, *, fmt: str | None = None, columns: Columns = Columns(), source: str = "file"
    ) -> None:
        if not path.is_file():
            raise AscoltoError(f"No such file: {path}; give the path of a JSONL or CSV file.")
        self.path = path
        self.fmt = fmt or _format_from_suffix(path)
        self.columns = columns
        self.name = source

    def estimated_total(self) -> int | None:
        with self.path.open("rb") as fh:
            lines = sum(1 for line in fh if line.strip())
        return lines - 1 if self.fmt in ("csv", "tsv") else lines

    def __iter__(self) -> Iterator[RawPost | Rejected]:
        yield from (self._jsonl() if self.fmt == "jsonl" else self._csv())

    def _jsonl(self) -> Iterator[RawPost | Rejected]:
        with self.path.open("rb") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield Rejected(line.rstrip(b"\r\n"), f"line {lineno}: not JSON ({exc})")
                    continue
                if not isinstance(row, dict):
                    yield Rejected(line.rstrip(b"\r\n"), f"line {lineno}: a JSON {type(row).__name__}, not an object")
                    continue
                yield self._to_post(row, lineno, line.rstrip(b"\r\n"))

    def _csv(self) -> Iterator[RawPost | Rejected]:
        delimiter = "\t" if self.fmt == "tsv" else ","
        try:
            with self.path.open(encoding="utf-8-sig", newline="") as fh:
                reader = csv.DictReader(fh, delimiter=delimiter)
                if self.columns.text not in (reader.fieldnames or []):
                    raise AscoltoError(
                        f"{self.path} has no {self.columns.text!r} column "
                        f"(columns: {', '.join(reader.fieldnames or [])}); "
                        "name the text column with --text-column."
                    )
                for row in reader:
                    buf = io.StringIO()
                    csv.writer(buf, delimiter=delimiter).writerow(row.values())
                    yield self._to_post(row, reader.line_num, buf.getvalue().rstrip("\r\n").encode())
        except UnicodeDecodeError as exc:
            raise AscoltoError(
                f"{self.path} is not UTF-8 text (byte {exc.start}); convert it first, e.g. `iconv -f latin1 -t utf-8`."
            ) from None

    def _to_post(self, row: Mapping[str, Any], lineno: int, original: bytes) -> RawPost | Rejected:
        if row.get("schema_version") == 1:
            return row  # type: ignore[return-value]  # already a RawPost; the producer validates it
        c = self.columns
        text = row.get(c.text)
        if not isinstance(text, str) or not text.strip():
            return Rejected(original, f"line {lineno}: no text in column {c.text!r}")
        native_id = row.get(c.id)
        if native_id in (None, ""):
            # A stable id from the content keeps replays idempotent when the file has no id column.
            native_id = hashlib.sha256(orjson.dumps(row, option=orjson.OPT_SORT_KEYS)).hexdigest()[:24]
        handle = row.get(c.author)
        used = {c.id, c.text, c.created_at, c.author, c.lang, c.url}
        extras = {k: v for k, v in row.items() if k not in used and k is not None}
        try:
            return raw_post(
                source=self.name,
                native_id=native_id,
                text=text,
                created_at=row.get(c.created_at),
                handle=str(handle) if handle not in (None, "") else "unknown",
                lang_hint=str(row[c.lang]).lower() if row.get(c.lang) else None,
                url=str(row[c.url]) if row.get(c.url) else None,
                raw=extras or None,
            )
        except ValueError as exc:  # an unreadable created_at
            return Rejected(original, f"line {lineno}: {exc}")


def _format_from_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    raise AscoltoError(f"Cannot tell the format of {path.name} from its suffix; pass --format jsonl or --format csv.")
