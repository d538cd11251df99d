"""``ascolto connect file``: replay a JSONL or CSV file of posts.

Rows that already are RawPost v1 objects are published as they are; other rows are mapped
through the configured columns. A row that cannot become a post goes to the dead-letter
topic with the line number and the reason, and the replay continues.
"""

from __future__ import annotations

import csv
import hashlib
from collections import deque
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
                original = line.rstrip(b"\r\n")
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    yield Rejected(original, f"line {lineno}: not JSON ({exc})")
                    continue
                if not isinstance(row, dict):
                    yield Rejected(original, f"line {lineno}: a JSON {type(row).__name__}, not an object")
                    continue
                yield self._guarded(row, lineno, original)

    def _csv(self) -> Iterator[RawPost | Rejected]:
        delimiter = "\t" if self.fmt == "tsv" else ","
        try:
            with self.path.open(encoding="utf-8-sig", newline="") as fh:
                records = _CsvRecords(fh, delimiter)
                header = records.header()
                if self.columns.text not in header:
                    raise AscoltoError(
                        f"{self.path} has no {self.columns.text!r} column "
                        f"(columns: {', '.join(header)}); name the text column with --text-column."
                    )
                for first, last, fields, original, problem in records:
                    where = f"line {first}" if first == last else f"lines {first}-{last}"
                    if problem is not None:
                        yield Rejected(original, f"{where}: {problem}")
                    else:
                        yield self._guarded(dict(zip(header, fields, strict=True)), first, original)
        except UnicodeDecodeError as exc:
            raise AscoltoError(
                f"{self.path} is not UTF-8 text (byte {exc.start}); convert it first, e.g. `iconv -f latin1 -t utf-8`."
            ) from None

    def _guarded(self, row: Mapping[str, Any], lineno: int, original: bytes) -> RawPost | Rejected:
        # One row's surprise must not end the replay: it becomes that row's dead letter.
        try:
            return self._to_post(row, lineno, original)
        except Exception as exc:
            return Rejected(original, f"line {lineno}: cannot be read as a post ({type(exc).__name__}: {exc})")

    def _to_post(self, row: Mapping[str, Any], lineno: int, original: bytes) -> RawPost | Rejected:
        if row.get("schema_version") == 1:
            return row  # type: ignore[return-value]  # already a RawPost; the producer validates it
        post = row_to_post(row, self.columns, self.name, original)
        return Rejected(original, f"line {lineno}: {post}") if isinstance(post, str) else post


def row_to_post(row: Mapping[str, Any], columns: Columns, source: str, original: bytes) -> RawPost | str:
    """One row (or JSON object) mapped through ``columns`` as a RawPost of ``source``, or why it cannot be one.

    Shared by the file connector and the HTTP ingest endpoint; ``original`` (the row as it came) gives a row
    without an id a stable one from its content, so a replay stays idempotent."""
    c = columns
    text = row.get(c.text)
    if not isinstance(text, str) or not text.strip():
        return f"no text in column {c.text!r}"
    native_id = row.get(c.id)
    if native_id in (None, ""):
        # A stable id from the content keeps replays idempotent when the file has no id column.
        try:
            content = orjson.dumps(row, option=orjson.OPT_SORT_KEYS)
        except (TypeError, ValueError):  # nested deeper than orjson writes: the line is the content
            content = original
        native_id = hashlib.sha256(content).hexdigest()[:24]
    handle = row.get(c.author)
    used = {c.id, c.text, c.created_at, c.author, c.lang, c.url}
    extras = {k: v for k, v in row.items() if k not in used and k is not None}
    try:
        return raw_post(
            source=source,
            native_id=native_id,
            text=text,
            created_at=row.get(c.created_at),
            handle=str(handle) if handle not in (None, "") else "unknown",
            lang_hint=str(row[c.lang]).lower() if row.get(c.lang) else None,
            url=str(row[c.url]) if row.get(c.url) else None,
            raw=extras or None,
        )
    except ValueError as exc:  # an unreadable created_at
        return str(exc)


class _CsvRecords:
    """CSV records with the physical lines they came from, and broken records told apart.

    The csv module, even strict, lets an unterminated quote swallow the rows after it into one
    field until the next quote. Here a record is broken when strict parsing fails or its field
    count differs from the header's; a broken record that spans several lines is reported for
    its first line only, and the lines after it are parsed again as rows of their own, so a
    stray quote costs one row, and every line ends up in a post or a dead letter.
    """

    def __init__(self, fh: Iterator[str], delimiter: str) -> None:
        self._fh = fh
        self._delimiter = delimiter
        self._replay: deque[tuple[int, str]] = deque()
        self._lineno = 0
        self._taken: list[tuple[int, str]] = []
        self._reader = self._new_reader()
        self._width = 0

    def _new_reader(self) -> Iterator[list[str]]:
        return csv.reader(self._lines(), delimiter=self._delimiter, strict=True)

    def _lines(self) -> Iterator[str]:
        while True:
            if self._replay:
                item = self._replay.popleft()
            else:
                line = next(self._fh, None)
                if line is None:
                    return
                self._lineno += 1
                item = (self._lineno, line)
            self._taken.append(item)
            yield item[1]

    def header(self) -> list[str]:
        for fields in self._reader:
            if fields:
                self._width = len(fields)
                return fields
        return []

    def __iter__(self) -> Iterator[tuple[int, int, list[str], bytes, str | None]]:
        """(first line, last line, fields, original bytes, why it is broken or None) per record."""
        while True:
            self._taken = []
            problem: str | None = None
            fields: list[str] = []
            try:
                fields = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                problem = f"broken CSV ({exc}); an unterminated quote?"
            if not self._taken:
                return
            if problem is None and not fields:
                continue  # a blank line
            if problem is None and len(fields) != self._width:
                problem = f"{len(fields)} fields, but the header has {self._width} columns"
            taken = self._taken
            if problem is not None and len(taken) > 1:
                # Only the first line is known to be broken; the others may be rows it swallowed.
                self._replay.extendleft(reversed(taken[1:]))
                taken = taken[:1]
                self._reader = self._new_reader()
            elif problem is not None:
                self._reader = self._new_reader()
            original = "".join(line for _, line in taken).rstrip("\r\n").encode("utf-8")
            yield taken[0][0], taken[-1][0], fields, original, problem


def _format_from_suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".tsv"):
        return suffix[1:]
    raise AscoltoError(f"Cannot tell the format of {path.name} from its suffix; pass --format jsonl or --format csv.")
