"""Scoring a sentiment model against labelled posts.

Per-class precision, recall and F1, 3-class macro-F1, the official SENTIPOLC 2016 polarity score
and the same figures per subset of posts (irony, links, replies, retweets). :func:`score` works
on predictions already made (a trainer's cross-validation), :func:`evaluate` calls a predictor,
:func:`chain_predictor` is the worker's own enrichment chain as a predictor.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from core.errors import AscoltoError

LABELS = ("negative", "neutral", "positive")
#: Gold label of a post that is both positive and negative (SENTIPOLC opos=1, oneg=1): left out of
#: the 3-class scores, counted in the official score.
MIXED = "mixed"
FORMATS = ("auto", "labels", "sentipolc")
_ALIASES = {
    "negative": "negative", "neg": "negative", "-1": "negative", "negativo": "negative", "negativa": "negative",
    "neutral": "neutral", "neu": "neutral", "0": "neutral", "neutro": "neutral", "neutrale": "neutral",
    "positive": "positive", "pos": "positive", "1": "positive", "+1": "positive", "positivo": "positive",
    "positiva": "positive",
}  # fmt: skip
# SENTIPOLC's overall polarity (opos, oneg) → gold label.
_SENTIPOLC = {("1", "0"): "positive", ("0", "1"): "negative", ("0", "0"): "neutral", ("1", "1"): MIXED}
_RETWEET = re.compile(r"\s*RT\b")
_URL = re.compile(r"https?://", re.IGNORECASE)
_BATCH = 500


def normalise_label(value: object) -> str:
    label = _ALIASES.get(str(value).strip().lower())
    if label is None:
        raise ValueError(f"label {value!r} is not positive/neutral/negative (or pos/neu/neg, 1/0/-1)")
    return label


class Labelled(NamedTuple):
    """One labelled post; ``irony`` is None where the set does not say."""

    text: str
    label: str  # one of LABELS, or MIXED
    irony: bool | None = None


@dataclass
class ClassScore:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class OfficialScore:
    """SENTIPOLC's polarity score: each binary task's F1 is the mean of its two classes' F1."""

    f_pos: float  # is the post positive (gold positive or mixed)? predicted ⇔ label positive
    f_neg: float  # is the post negative (gold negative or mixed)? predicted ⇔ label negative
    score: float  # (f_pos + f_neg) / 2
    posts: int  # all posts, mixed included


@dataclass
class SubsetScore:
    posts: int  # 3-class posts in the subset
    macro_f1: float
    official: float  # on the subset's posts, mixed included


@dataclass
class EvalReport:
    per_class: dict[str, ClassScore]
    macro_f1: float
    accuracy: float
    total: int  # posts in the 3-class scores
    confusion: dict[str, dict[str, int]]  # gold → predicted → count
    mistakes: list[tuple[str, str, str]] = field(default_factory=list)  # text, gold, predicted
    mixed: int = 0  # posts left out of the 3-class scores
    official: OfficialScore | None = None
    subsets: dict[str, SubsetScore] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (``ascolto eval --json``), without the mistakes."""
        return {
            "macro_f1": self.macro_f1,
            "accuracy": self.accuracy,
            "total": self.total,
            "mixed_excluded": self.mixed,
            "per_class": {k: vars(v) for k, v in self.per_class.items()},
            "confusion": self.confusion,
            "official": vars(self.official) if self.official else None,
            "subsets": {k: vars(v) for k, v in self.subsets.items()},
        }


def _f1(tp: int, predicted: int, support: int) -> tuple[float, float, float]:
    precision = tp / predicted if predicted else 0.0
    recall = tp / support if support else 0.0
    return precision, recall, (2 * precision * recall / (precision + recall) if precision + recall else 0.0)


def _binary_task(gold: Sequence[bool], predicted: Sequence[bool]) -> float:
    """Mean of the F1 of class 1 and class 0, as the SENTIPOLC scorer computes a task."""
    pairs = Counter(zip(gold, predicted, strict=True))
    f1s = []
    for cls in (True, False):
        tp = pairs[(cls, cls)]
        f1s.append(_f1(tp, tp + pairs[(not cls, cls)], tp + pairs[(cls, not cls)])[2])
    return sum(f1s) / 2


def official_score(gold: Sequence[str], predicted: Sequence[str]) -> OfficialScore:
    """The official SENTIPOLC 2016 polarity score of 3-class predictions, on all posts (mixed included)."""
    f_pos = _binary_task([g in ("positive", MIXED) for g in gold], [p == "positive" for p in predicted])
    f_neg = _binary_task([g in ("negative", MIXED) for g in gold], [p == "negative" for p in predicted])
    return OfficialScore(f_pos, f_neg, (f_pos + f_neg) / 2, len(gold))


def _three_class(gold: Sequence[str], predicted: Sequence[str]) -> tuple[dict[str, ClassScore], float, float]:
    confusion = Counter(zip(gold, predicted, strict=True))
    per_class = {}
    for label in LABELS:
        support = sum(confusion[(label, p)] for p in LABELS)
        predicted_as = sum(confusion[(g, label)] for g in LABELS)
        per_class[label] = ClassScore(*_f1(confusion[(label, label)], predicted_as, support), support)
    present = [s for s in per_class.values() if s.support]
    macro = sum(s.f1 for s in present) / len(present) if present else 0.0
    accuracy = sum(confusion[(g, g)] for g in LABELS) / len(gold) if gold else 0.0
    return per_class, macro, accuracy


def macro_f1(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """3-class macro-F1 over the classes present in ``gold``, mixed posts left out (as :func:`score` does)."""
    kept = [(g, y) for g, y in zip(gold, predicted, strict=True) if g != MIXED]
    return _three_class([g for g, _ in kept], [y for _, y in kept])[1]


_SUBSET_ORDER = ("irony", "no irony", "with URL", "no URL", "reply (starts with @)", "retweet (RT)")


def subset_names(post: Labelled) -> list[str]:
    """The subsets a post belongs to (beyond "all"): how real posts differ from written examples."""
    names = []
    if post.irony is not None:
        names.append("irony" if post.irony else "no irony")
    names.append("with URL" if _URL.search(post.text) else "no URL")
    if post.text.lstrip().startswith("@"):
        names.append("reply (starts with @)")
    if _RETWEET.match(post.text):
        names.append("retweet (RT)")
    return names


def score(posts: Sequence[Labelled], predicted: Sequence[str]) -> EvalReport:
    """Score predictions (one of LABELS per post) against the posts' gold labels."""
    if len(posts) != len(predicted):
        raise ValueError(f"{len(predicted)} predictions for {len(posts)} posts")
    if not posts:
        raise AscoltoError("No labelled examples to evaluate; check the file and its column names.")
    kept = [(p, y) for p, y in zip(posts, predicted, strict=True) if p.label != MIXED]
    gold3 = [p.label for p, _ in kept]
    pred3 = [y for _, y in kept]
    per_class, macro, accuracy = _three_class(gold3, pred3)
    confusion: dict[str, Counter[str]] = {label: Counter() for label in LABELS}
    for g, y in zip(gold3, pred3, strict=True):
        confusion[g][y] += 1
    groups: dict[str, list[int]] = {}
    for i, post in enumerate(posts):
        for name in subset_names(post):
            groups.setdefault(name, []).append(i)
    subsets = {}
    for name, members in sorted(groups.items(), key=lambda item: _SUBSET_ORDER.index(item[0])):
        sub_gold = [posts[i].label for i in members]
        sub_pred = [predicted[i] for i in members]
        three = [(g, y) for g, y in zip(sub_gold, sub_pred, strict=True) if g != MIXED]
        _, sub_macro, _ = _three_class([g for g, _ in three], [y for _, y in three])
        subsets[name] = SubsetScore(len(three), sub_macro, official_score(sub_gold, sub_pred).score)
    return EvalReport(
        per_class=per_class,
        macro_f1=macro,
        accuracy=accuracy,
        total=len(kept),
        confusion={g: dict(c) for g, c in confusion.items()},
        mistakes=[(p.text, p.label, y) for p, y in kept if p.label != y],
        mixed=len(posts) - len(kept),
        official=official_score([p.label for p in posts], predicted),
        subsets=subsets,
    )


def _as_labelled(examples: Iterable[Labelled | tuple[str, str]]) -> list[Labelled]:
    return [e if isinstance(e, Labelled) else Labelled(*e) for e in examples]


def evaluate(examples: Iterable[Labelled | tuple[str, str]], predict: Callable[[str], str]) -> EvalReport:
    """Predict every labelled post (or (text, gold label) pair) one by one and score the predictions."""
    posts = _as_labelled(examples)
    return score(posts, [predict(p.text) for p in posts])


def evaluate_many(
    examples: Iterable[Labelled | tuple[str, str]], predict_many: Callable[[Sequence[str]], list[str]]
) -> EvalReport:
    """:func:`evaluate` with a predictor that takes a batch of texts (such as :func:`chain_predictor`)."""
    posts = _as_labelled(examples)
    predicted: list[str] = []
    for start in range(0, len(posts), _BATCH):
        predicted += predict_many([p.text for p in posts[start : start + _BATCH]])
    return score(posts, predicted)


def chain_predictor(settings: Any = None, lang: str = "auto") -> Callable[[Sequence[str]], list[str]]:
    """The sentiment label the worker's configured enrichment chain gives each text.

    ``lang="auto"`` detects the language as the worker does for a post without a hint; a language
    code skips detection and scores every text in that language.
    """
    # Imported here: the chain loads lexicons and models, which scoring alone does not need.
    from core.settings import get_settings
    from schemas import raw_post
    from streams.enrichers.base import EnricherFailed
    from streams.enrichers.chain import EnrichmentChain, chain_from_settings

    chain = chain_from_settings(settings or get_settings())
    if lang != "auto":
        chain = EnrichmentChain(e for e in chain.enrichers if "lang" not in e.writes)
    counter = 0

    def predict_many(texts: Sequence[str]) -> list[str]:
        nonlocal counter
        raws = []
        for text in texts:
            counter += 1
            post: dict[str, Any] = dict(raw_post(source="eval", native_id=counter, text=text, created_at=0))
            if lang != "auto":
                post["lang"] = lang
            raws.append(post)
        labels: list[str] = []
        for result in chain.enrich_many(raws):  # type: ignore[arg-type]
            if isinstance(result, EnricherFailed):
                raise AscoltoError(f"The enrichment chain failed on a post ({result}); fix the enricher named.")
            labels.append(result["sentiment"]["label"])
        return labels

    return predict_many


def read_labelled(path: Path, text_column: str, label_column: str) -> Iterator[tuple[str, str]]:
    """(text, label) pairs from a CSV/TSV or JSONL file with a text and a label column; a bad label names its line."""
    if not path.is_file():
        raise AscoltoError(f"No such file: {path}; give a labelled CSV or JSONL file.")
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        with path.open("rb") as fh:
            rows: Iterable[tuple[int, dict]] = ((n, orjson.loads(line)) for n, line in enumerate(fh, 1) if line.strip())
            yield from _pairs(rows, path, text_column, label_column)
    else:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh, delimiter=_delimiter(path))
            _require(
                path, reader.fieldnames, {text_column, label_column}, "name them with --text-column and --label-column"
            )
            yield from _pairs(((reader.line_num, row) for row in reader), path, text_column, label_column)


def read_sentipolc(path: Path, text_column: str = "text") -> Iterator[Labelled]:
    """Labelled posts from a SENTIPOLC 2016 CSV (columns opos, oneg, iro and the text).

    opos=1, oneg=0 → positive; opos=0, oneg=1 → negative; both 0 → neutral; both 1 → :data:`MIXED`.
    """
    if not path.is_file():
        raise AscoltoError(f"No such file: {path}; give a SENTIPOLC CSV file.")
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh, delimiter=_delimiter(path))
        _require(path, reader.fieldnames, {text_column, "opos", "oneg"}, "is it a SENTIPOLC 2016 file?")
        for row in reader:
            text = row.get(text_column)
            if not text or not text.strip():
                continue
            label = _SENTIPOLC.get(((row["opos"] or "").strip(), (row["oneg"] or "").strip()))
            irony = (row.get("iro") or "").strip()
            if label is None or irony not in ("", "0", "1"):
                raise AscoltoError(
                    f"{path} line {reader.line_num}: opos, oneg and iro must be 0 or 1 "
                    f"(got {row['opos']!r}, {row['oneg']!r}, {row.get('iro')!r})."
                )
            yield Labelled(text, label, None if irony == "" else irony == "1")


def read_dataset(
    path: Path, fmt: str = "auto", text_column: str = "text", label_column: str = "label"
) -> list[Labelled]:
    """Read a labelled file: ``sentipolc``, ``labels`` (a text and a label column) or ``auto``
    (SENTIPOLC when a CSV has opos and oneg columns)."""
    if fmt not in FORMATS:
        raise AscoltoError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    if fmt == "auto":
        fmt = "sentipolc" if _looks_like_sentipolc(path) else "labels"
    if fmt == "sentipolc":
        return list(read_sentipolc(path, text_column))
    return [Labelled(*pair) for pair in read_labelled(path, text_column, label_column)]


def _looks_like_sentipolc(path: Path) -> bool:
    if not path.is_file() or path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return False
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header = next(csv.reader(fh, delimiter=_delimiter(path)), [])
    return {"opos", "oneg"} <= set(header)


def _delimiter(path: Path) -> str:
    return "\t" if path.suffix.lower() == ".tsv" else ","


def _require(path: Path, columns: Sequence[str] | None, needed: set[str], hint: str) -> None:
    missing = needed - set(columns or [])
    if missing:
        raise AscoltoError(
            f"{path} has no column {', '.join(sorted(missing))} (columns: {', '.join(columns or [])}); {hint}."
        )


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
