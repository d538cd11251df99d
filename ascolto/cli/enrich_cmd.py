"""``ascolto enrich``: the stream's enrichment chain, offline, JSONL in and out."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from ascolto.cli.output import console
from core.errors import AscoltoError
from core.settings import get_settings
from schemas import dumps, raw_post
from streams.enrichers.chain import chain_from_settings
from streams.processing import Enriched, enrich_message


def _as_raw_post(line: bytes) -> bytes:
    """A JSON object line is taken as a RawPost; any other line as the text of a new post."""
    if line.lstrip().startswith(b"{"):
        return line
    native_id = hashlib.sha256(line).hexdigest()[:24]
    return dumps(raw_post(source="text", native_id=native_id, text=line.decode("utf-8", "replace")))


def enrich(
    file: Annotated[str, typer.Argument(help="RawPost JSONL (or plain text lines); '-' reads stdin.")] = "-",
) -> None:
    """Print each post enriched (EnrichedPost JSONL on stdout) exactly as the worker would index it."""
    chain = chain_from_settings(get_settings())
    if file != "-" and not Path(file).is_file():
        raise AscoltoError(f"No such file: {file}; give a JSONL file, or '-' to read stdin.")
    stream: BinaryIO = sys.stdin.buffer if file == "-" else Path(file).open("rb")
    failed = 0
    out = sys.stdout.buffer
    with stream:
        for lineno, line in enumerate(stream, start=1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            outcome = enrich_message(chain, _as_raw_post(line))
            if isinstance(outcome, Enriched):
                out.write(outcome.value + b"\n")
            else:
                failed += 1
                console.print(f"[yellow]line {lineno}[/] ({outcome.stage}): {outcome.reason}")
    out.flush()
    if failed:
        raise typer.Exit(1)
