"""``ascolto enrich``: the stream's enrichment chain, offline, JSONL in and out."""

from __future__ import annotations

import hashlib
import sys
import unicodedata
from pathlib import Path
from typing import Annotated, BinaryIO

import typer

from ascolto.cli.output import console
from core.errors import AscoltoError
from core.settings import get_settings
from schemas import dumps, raw_post
from streams.enrichers import EnrichmentChain
from streams.enrichers.chain import chain_from_settings
from streams.processing import Enriched, Failed, enrich_message

#: A plain-text line with a larger share of control characters is binary data, not a post.
MAX_CONTROL_SHARE = 0.25


def _as_raw_post(line: bytes) -> bytes | Failed:
    """A JSON object line is taken as a RawPost; any other line as the text of a new post, unless it is not text."""
    if line.lstrip().startswith(b"{"):
        return line
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Failed("decode", f"not UTF-8 text (byte {exc.start}): binary data is not a post")
    controls = sum(1 for ch in text if ch != "\t" and unicodedata.category(ch) == "Cc")
    if controls > MAX_CONTROL_SHARE * len(text):
        return Failed(
            "decode", f"{controls} of {len(text)} characters are control characters: binary data is not a post"
        )
    native_id = hashlib.sha256(line).hexdigest()[:24]
    return dumps(raw_post(source="text", native_id=native_id, text=text))


def _enrich_line(chain: EnrichmentChain, line: bytes) -> Enriched | Failed:
    value = _as_raw_post(line)
    if isinstance(value, Failed):
        return value
    try:
        return enrich_message(chain, value)
    except Exception as exc:  # one line's surprise is that line's error, and the others are still enriched
        return Failed("enrich", f"the post could not be enriched ({type(exc).__name__}: {exc})")


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
            outcome = _enrich_line(chain, line)
            if isinstance(outcome, Enriched):
                out.write(outcome.value + b"\n")
            else:
                failed += 1
                console.print(f"[yellow]line {lineno}[/] ({outcome.stage}): {outcome.reason}")
    out.flush()
    if failed:
        raise typer.Exit(1)
