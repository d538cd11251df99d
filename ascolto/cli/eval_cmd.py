"""``ascolto eval``: how well the sentiment enrichment agrees with labelled posts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from ascolto.cli.output import stdout_console
from ascolto.evaluation import FORMATS, LABELS, chain_predictor, evaluate_many, read_dataset
from core.settings import get_settings


def eval_(
    file: Annotated[
        Path, typer.Argument(help="Labelled CSV/TSV or JSONL (a text and a label per row), or a SENTIPOLC 2016 CSV.")
    ],
    text_column: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    label_column: Annotated[str, typer.Option(help="Column with positive/neutral/negative.")] = "label",
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            help=f"{' | '.join(FORMATS)}: auto reads a CSV with opos and oneg columns as SENTIPOLC "
            "(opos/oneg 1/0 positive, 0/1 negative, 0/0 neutral, 1/1 mixed).",
        ),
    ] = "auto",
    lang: Annotated[str, typer.Option(help="auto (detect, as the worker does) or a language code to force.")] = "auto",
    mistakes: Annotated[int, typer.Option(help="Print this many misclassified posts.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report on stdout.")] = False,
) -> None:
    """Per-class precision, recall and F1, 3-class macro-F1, the official SENTIPOLC score and figures per
    subset (irony, links, replies, retweets) of the sentiment the worker's enrichment chain assigns."""
    posts = read_dataset(file, fmt, text_column, label_column)
    report = evaluate_many(posts, chain_predictor(get_settings(), lang))
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2) + b"\n")
        return
    left_out = f", {report.mixed} mixed left out" if report.mixed else ""
    table = Table("class", "precision", "recall", "F1", "support", title=f"{file.name}: {report.total} posts{left_out}")
    for label in LABELS:
        s = report.per_class[label]
        table.add_row(label, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.support))
    table.add_section()
    table.add_row("macro", "", "", f"{report.macro_f1:.3f}", str(report.total))
    stdout_console.print(table)
    stdout_console.print(f"accuracy {report.accuracy:.3f}   macro-F1 [bold]{report.macro_f1:.3f}[/]")
    if report.official:
        o = report.official
        stdout_console.print(
            f"official SENTIPOLC score [bold]{o.score:.3f}[/] (F_pos {o.f_pos:.3f}, F_neg {o.f_neg:.3f}; "
            f"on all {o.posts} posts, mixed included)"
        )
    confusion = Table("gold \\ predicted", *LABELS)
    for gold in LABELS:
        confusion.add_row(gold, *(str(report.confusion[gold].get(p, 0)) for p in LABELS))
    stdout_console.print(confusion)
    subsets = Table("subset", "posts", "macro-F1", "official", title="by subset (posts: 3-class)")
    for name, sub in report.subsets.items():
        subsets.add_row(name, str(sub.posts), f"{sub.macro_f1:.3f}", f"{sub.official:.3f}")
    stdout_console.print(subsets)
    for text, gold, predicted in report.mistakes[:mistakes]:
        stdout_console.print(f"[dim]{gold:>8} → {predicted:<8}[/] {text}", soft_wrap=True)
