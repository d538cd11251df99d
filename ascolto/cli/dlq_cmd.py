"""``ascolto dlq list|show|replay``: the dead letters of posts.dlq, for the people who fix them."""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import Annotated

import orjson
import typer
from rich.markup import escape
from rich.table import Table

from ascolto.cli.output import console, stdout_console
from connectors.dead_letter_replay import (
    StoredLetter,
    find_dead_letters,
    parse_since,
    read_dead_letters,
    replay_dead_letters,
)
from core.kafka import TopicNames
from core.settings import get_settings
from schemas.dead_letters import is_base64
from schemas.timestamps import epoch_to_rfc3339

app = typer.Typer(
    help="Dead letters (posts.dlq): list them, show one in full, replay the fixable ones.", no_args_is_help=True
)

Stages = Annotated[
    list[str] | None,
    typer.Option(
        "--stage",
        help="Only this stage (repeatable): decode, validate, enrich (or enrich:<name>), emit, index, connector.",
    ),
]
Since = Annotated[
    str | None,
    typer.Option(
        help="Only dead letters since this time (2025-01-31, 2025-01-31T08:00:00Z; UTC) or this long ago (30m, 7d)."
    ),
]

REASON_WIDTH = 70

#: The DeadLetter fields `show` prints under their own labels; any other field is listed as it is.
SHOWN_ABOVE = frozenset({"stage", "error", "original", "topic", "partition", "offset", "at", "schema_version"})


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_since(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


def _short(text: str, width: int = REASON_WIDTH) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


@app.command("list")
def list_(
    stage: Stages = None,
    since: Since = None,
    limit: Annotated[int, typer.Option(min=1, help="Show the newest N at most.")] = 50,
) -> None:
    """The newest dead letters as a table (ref, time, stage, reason, post id, where it was read; tab-separated when
    piped); the ref is what `ascolto dlq show` takes."""
    settings = get_settings()
    stages = stage or []
    start = _since(since)
    total = 0
    newest: list[tuple[int, int, int, StoredLetter]] = []
    for stored in read_dead_letters(settings, since=start):
        if not stored.matches(stages):
            continue
        total += 1
        # Only the row is kept, not the original bytes: a long DLQ does not fill the memory.
        entry = (stored.timestamp_ms, stored.partition, stored.offset, _without_original(stored))
        if len(newest) < limit:
            heapq.heappush(newest, entry)
        else:
            heapq.heappushpop(newest, entry)
    dlq = TopicNames.of(settings).dlq
    if not total:
        console.print(f"no dead letters in {dlq}" + (" matching the filters" if stages or since else ""))
        return
    header = ("ref", "time (UTC)", "stage", "reason", "post id", "read from")
    rows = [
        (
            stored.ref,
            stored.at.strftime("%Y-%m-%d %H:%M:%S"),
            stored.stage,
            _short(stored.reason),
            stored.post_id,
            stored.source.removeprefix(settings.topic_prefix),
        )
        for _, _, _, stored in sorted(newest)
    ]
    if stdout_console.is_terminal:
        table = Table(*header)
        for column in table.columns:
            # Every column but the reason whole, so refs and post ids can be copied from the screen.
            column.no_wrap = column.header != "reason"
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        stdout_console.print(table)
    else:
        # Piped: one tab-separated line per letter, for grep, cut and spreadsheets.
        for line in (header, *rows):
            print("\t".join(" ".join(cell.split("\t")).replace("\n", " ").replace("\r", " ") for cell in line))
    shown = f"the newest {len(newest)} of " if len(newest) < total else ""
    console.print(f"{shown}{total} dead letter(s) in {dlq}; `ascolto dlq show REF` shows one in full")


def _without_original(stored: StoredLetter) -> StoredLetter:
    if stored.letter is None:
        return stored
    letter = {k: v for k, v in stored.letter.items() if k != "original"}
    return StoredLetter(stored.partition, stored.offset, stored.timestamp_ms, stored.key, letter, stored.size)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="partition:offset in posts.dlq (from `dlq list`), or a post id.")],
) -> None:
    """One dead letter in full: stage, reason, where it was read, and the original bytes (as text when they are)."""
    settings = get_settings()
    found = find_dead_letters(settings, ref)
    dlq = TopicNames.of(settings).dlq
    if not found:
        console.print(
            f"no dead letter at {escape(ref)} or for a post with that id in {dlq}; `ascolto dlq list` lists them"
        )
        raise typer.Exit(1)
    for i, stored in enumerate(found):
        if i:
            stdout_console.print()
        _print_letter(stored, dlq)


def _print_letter(stored: StoredLetter, dlq: str) -> None:
    out = stdout_console
    out.print(f"[bold]dead letter {stored.ref}[/] in {dlq}")
    fields = [
        ("post id", stored.post_id or "(no key)"),
        ("stage", stored.stage),
        ("reason", stored.reason),
        ("at", epoch_to_rfc3339(stored.at.timestamp())),
        ("read from", stored.source or "(rejected by a connector)"),
    ]
    letter = stored.letter or {}
    # Fields beyond the ones above (truncation details, for one) are shown as they are.
    fields += [(name.replace("_", " "), str(value)) for name, value in letter.items() if name not in SHOWN_ABOVE]
    original = stored.original()
    if original is None:
        size = "not decodable" if letter else "none (the record is not a DeadLetter)"
    else:
        size = f"{len(original):,} bytes"
        if stored.truncated:
            whole = letter.get("original_bytes")
            of = f" of {whole:,}" if isinstance(whole, int) else ""
            size += f", the first{of} (truncated: it cannot be replayed)"
    fields.append(("original", size))
    width = max(len(name) for name, _ in fields)
    for name, value in fields:
        out.print(f"  {name.ljust(width)}  {value}", soft_wrap=True, markup=False, highlight=False)
    if original is None or not original:
        return
    if is_base64(letter):
        out.print("  (not UTF-8 text: base64 below)")
        out.print(str(letter.get("original", "")), soft_wrap=True, markup=False, highlight=False)
        return
    text = original.decode("utf-8")
    try:
        text = orjson.dumps(orjson.loads(original), option=orjson.OPT_INDENT_2).decode("utf-8")
    except orjson.JSONDecodeError:
        pass  # not JSON: shown as it is
    out.print(text, soft_wrap=True, markup=False, highlight=False)


@app.command()
def replay(
    stage: Stages = None,
    since: Since = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count what would be replayed.")] = False,
) -> None:
    """Send the fixable dead letters back through the pipeline, once the cause is fixed.

    Each original goes to the topic it was read from (posts.raw or posts.enriched) under its original key, so the
    post keeps its id and the index holds it once; replaying again is harmless. Skipped, and counted: connector
    rejects, truncated originals, and malformed input (decode, validate) unless named with --stage.
    """
    settings = get_settings()
    report = replay_dead_letters(settings, stages=stage or [], since=_since(since), dry_run=dry_run)
    verb = "would replay" if dry_run else "replayed"
    where = ", ".join(f"{n} to {topic}" for topic, n in sorted(report.replayed.items()))
    mark = "" if dry_run else "[green]✓[/] "
    console.print(f"{mark}{verb} {report.total_replayed} dead letter(s)" + (f": {escape(where)}" if where else ""))
    if report.skipped:
        console.print(f"skipped {report.total_skipped}:")
        for reason, n in report.skipped.most_common():
            console.print(f"  {n:>6}  {escape(reason)}", soft_wrap=True)
