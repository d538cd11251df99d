"""Scoring a sentiment model against labelled posts: per-class precision, recall, F1 and macro-F1."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from core.errors import AscoltoError

LABELS = ("negative", "neutral", "positive")
_ALIASES = {
    "negative": "negative", "neg": "negative", "-1": "negative", "negativo": "negative", "negativa": "negative",
    "neutral": "neutral", "neu": "neutral", "0": "neutral", "neutro": "neutral", "neutrale": "neutral",
    "positive": "positive", "pos": "positive", "1": "positive", "+1": "positive", "positivo": "positive",
    "positiva": "positive",
}  # fmt: skip


def normalise_label(value: object) -> str:
    label = _ALIASES.get(str(value).strip().lower())
    if label is None:
        raise ValueError(f"label {value!r} is not positive/neutral/negative (or pos/neu/neg, 1/0/-1)")
    return label


@dataclass
class ClassScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class EvalReport:
    per_class: dict[str, ClassScore]
    macro_f1: float
    accuracy: float
    total: int
    confusion: dict[str, dict[str, int]]  # gold → predicted → count
    mistakes: list[tuple[str, str, str]] = field(default_factory=list)  # text, gold, predicted


def evaluate(examples: Iterable[tuple[str, str]], predict: Callable[[str], str]) -> EvalReport:
    """Predict every (text, gold label) and score the predictions."""
    confusion: dict[str, Counter[str]] = {label: Counter() for label in LABELS}
    mistakes: list[tuple[str, str, str]] = []
    total = correct = 0
    for text, gold in examples:
        predicted = predict(text)
        confusion[gold][predicted] += 1
        total += 1
        if predicted == gold:
            correct += 1
        else:
            mistakes.append((text, gold, predicted))
    if not total:
        raise AscoltoError("No labelled examples to evaluate; check the file and its column names.")
    per_class = {}
    for label in LABELS:
        tp = confusion[label][label]
        predicted_as = sum(confusion[g][label] for g in LABELS)
        support = sum(confusion[label].values())
        precision = tp / predicted_as if predicted_as else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = ClassScore(precision, recall, f1, support)
    present = [s for s in per_class.values() if s.support]
    macro = sum(s.f1 for s in present) / len(present)
    return EvalReport(per_class, macro, correct / total, total, {g: dict(c) for g, c in confusion.items()}, mistakes)


def read_labelled(path: Path, text_column: str, label_column: str) -> Iterator[tuple[str, str]]:
    """(text, label) pairs from a CSV/TSV or JSONL file; a bad label names its line."""
    if not path.is_file():
        raise AscoltoError(f"No such file: {path}; give a labelled CSV or JSONL file.")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with path.open("rb") as fh:
            rows: Iterable[tuple[int, dict]] = ((n, orjson.loads(line)) for n, line in enumerate(fh, 1) if line.strip())
            yield from _pairs(rows, path, text_column, label_column)
    else:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            missing = {text_column, label_column} - set(reader.fieldnames or [])
            if missing:
                raise AscoltoError(
                    f"{path} has no column {', '.join(sorted(missing))} "
                    f"(columns: {', '.join(reader.fieldnames or [])}); "
                    "name them with --text-column and --label-column."
                )
            yield from _pairs(((reader.line_num, row) for row in reader), path, text_column, label_column)


def _pairs(
    rows: Iterable[tuple[int, dict]], path: Path, text_column: str, label_column: str
) -> Iterator[tuple[str, str]]:
    for lineno, row in rows:
        text = row.get(text_column)
        if not isinstance(text, str) or not text.strip():
            continue
        try:
            yield text, normalise_label(row.get(label_column))
        except ValueError as exc:
            raise AscoltoError(f"{path} line {lineno}: {exc}.") from None
