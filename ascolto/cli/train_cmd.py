"""``ascolto train``: fit a sentiment model on a team's own labelled posts (needs ``ascolto[train]``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ascolto.cli.output import stdout_console
from ascolto.training import Params, Trainer, read_examples
from core.errors import AscoltoError


def train(
    file: Annotated[
        Path, typer.Argument(help="Labelled CSV/TSV or JSONL (a text and a label per row), or SENTIPOLC CSV.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model file to write (.npz).")],
    lang: Annotated[str, typer.Option(help="Language of the posts; the model decides only posts of it.")] = "it",
    text_column: Annotated[str, typer.Option(help="Column with the text.")] = "text",
    label_column: Annotated[str, typer.Option(help="Column with positive/neutral/negative.")] = "label",
    fmt: Annotated[str, typer.Option("--format", help="csv (text and label columns) or sentipolc.")] = "csv",
    name: Annotated[str | None, typer.Option(help="Name in sentiment.model; default: the output file's stem.")] = None,
    folds: Annotated[int, typer.Option(min=2, max=20, help="Folds of the cross-validation.")] = 5,
    c: Annotated[float, typer.Option(min=0.001, help="Inverse regularisation of the logistic regression.")] = 2.0,
) -> None:
    """Fit word and character n-gram TF-IDF + rule scores → logistic regression; print its cross-validated scores."""
    if fmt not in ("csv", "sentipolc"):
        raise AscoltoError(f"Unknown --format {fmt!r}; use csv or sentipolc.")
    if output.suffix != ".npz":
        output = output.with_name(output.name + ".npz")  # numpy would add it anyway; say the real name
    examples = read_examples(file, fmt, text_column, label_column)
    trainer = Trainer(lang, Params(c=c, folds=folds))
    model, cv = trainer.train(examples, name or output.stem, file.name)
    output.parent.mkdir(parents=True, exist_ok=True)
    model.save(output)
    counts = ", ".join(f"{label} {n}" for label, n in model.meta["class_counts"].items())
    table = Table(
        "scorer", "3-class macro-F1", "SENTIPOLC score", title=f"{file.name}: {len(examples)} posts, {cv.folds}-fold CV"
    )
    table.add_row("trained model", f"{cv.model.macro_f1:.3f}", f"{cv.model.official:.3f}")
    table.add_row(f"rules alone ({model.meta['rules']})", f"{cv.rules.macro_f1:.3f}", f"{cv.rules.official:.3f}")
    stdout_console.print(f"labels: {counts}")
    stdout_console.print(table)
    stdout_console.print(
        f"wrote {output} ({model.model}); use it with ASCOLTO_SENTIMENT_MODEL={output}", soft_wrap=True
    )
