"""``ascolto eval``: how well the sentiment enrichment agrees with labelled posts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.table import Table

from ascolto.cli.output import stdout_console
from ascolto.evaluation import LABELS, evaluate, read_labelled
from core.settings import get_settings
from streams.enrichers.language import Language
from streams.enrichers.sentiment import MultilingualSentiment


def eval_(
    file: Annotated[Path, typer.Argument(help="Labelled CSV/TSV or JSONL: a text and a label per row.")],
    text_column: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    label_column: Annotated[str, typer.Option(help="Column with positive/neutral/negative.")] = "label",
    lang: Annotated[str, typer.Option(help="auto (detect, as the worker does) or a language code to force.")] = "auto",
    mistakes: Annotated[int, typer.Option(help="Print this many misclassified posts.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable report on stdout.")] = False,
) -> None:
    """Per-class precision, recall and F1, and macro-F1, of the sentiment the pipeline assigns."""
    settings = get_settings()
    sentiment = MultilingualSentiment()
    language = Language(settings)

    def predict(text: str) -> str:
        code = language({"text": text})["lang"] if lang == "auto" else lang
        return sentiment.score(text, code)["label"]

    report = evaluate(read_labelled(file, text_column, label_column), predict)
    if as_json:
        doc = {
            "macro_f1": report.macro_f1,
            "accuracy": report.accuracy,
            "total": report.total,
            "per_class": {k: vars(v) for k, v in report.per_class.items()},
            "confusion": report.confusion,
        }
        sys.stdout.buffer.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        return
    table = Table("class", "precision", "recall", "F1", "support", title=f"{file.name}: {report.total} posts")
    for label in LABELS:
        s = report.per_class[label]
        table.add_row(label, f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}", str(s.support))
    table.add_section()
    table.add_row("macro", "", "", f"{report.macro_f1:.3f}", str(report.total))
    stdout_console.print(table)
    stdout_console.print(f"accuracy {report.accuracy:.3f}   macro-F1 [bold]{report.macro_f1:.3f}[/]")
    confusion = Table("gold \\ predicted", *LABELS)
    for gold in LABELS:
        confusion.add_row(gold, *(str(report.confusion[gold].get(p, 0)) for p in LABELS))
    stdout_console.print(confusion)
    for text, gold, predicted in report.mistakes[:mistakes]:
        stdout_console.print(f"[dim]{gold:>8} → {predicted:<8}[/] {text}", soft_wrap=True)
