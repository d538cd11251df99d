"""SENTIPOLC-format labelled sets in ``ascolto eval``: label mapping, mixed posts, the official score, subsets."""

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from ascolto.evaluation import MIXED, Labelled, official_score, read_dataset, read_sentipolc, score
from core.errors import AscoltoError

HEADER = '"idtwitter","subj","opos","oneg","iro","lpos","lneg","top","text"\n'
# Written for this test in SENTIPOLC's column layout: (opos, oneg, iro, text).
ROWS = [
    (1, 0, 0, "Che bella giornata al mercato, grazie a tutti"),
    (0, 1, 0, "@comune ancora buche in via Roma, vergogna"),
    (0, 0, 0, "RT @notizie: domani sciopero dei treni http://t.co/abc"),
    (1, 1, 1, "Bravissimi, un altro ritardo da record"),
    (1, 0, 0, "Nuovo parco aperto http://t.co/xyz"),
    (0, 1, 1, "@sindaco complimenti per il traffico di oggi"),
]
# Predictions for ROWS, chosen so that every binary cell of the official score is exercised.
PREDICTED = ["positive", "negative", "positive", "negative", "neutral", "negative"]


def write_sentipolc(path: Path, rows=ROWS) -> Path:
    lines = [f'"{i}",1,{p},{n},{r},0,0,0,"{t}"\n' for i, (p, n, r, t) in enumerate(rows)]
    path.write_text(HEADER + "".join(lines), encoding="utf-8")
    return path


def test_sentipolc_labels_map_to_three_classes_and_mixed(tmp_path):
    posts = list(read_sentipolc(write_sentipolc(tmp_path / "s.csv")))
    assert [p.label for p in posts] == ["positive", "negative", "neutral", MIXED, "positive", "negative"]
    assert [p.irony for p in posts] == [False, False, False, True, False, True]
    # Detected by its opos/oneg columns, no --format needed.
    assert read_dataset(tmp_path / "s.csv") == posts


def test_official_score_by_hand():
    gold = ["positive", "negative", "neutral", MIXED, "positive", "negative"]
    # Positive task: gold [1,0,0,1,1,0], predicted [1,0,1,0,0,0]:
    #   class 1: P 1/2, R 1/3, F1 2/5; class 0: P 2/4, R 2/3, F1 4/7 → F_pos = 17/35.
    # Negative task: gold [0,1,0,1,0,1], predicted the same → F_neg = 1.
    official = official_score(gold, PREDICTED)
    assert official.f_pos == pytest.approx(17 / 35)
    assert official.f_neg == pytest.approx(1.0)
    assert official.score == pytest.approx(26 / 35)
    assert official.posts == 6


def test_mixed_posts_are_left_out_of_three_classes_but_count_in_the_official_score(tmp_path):
    posts = list(read_sentipolc(write_sentipolc(tmp_path / "s.csv")))
    report = score(posts, PREDICTED)
    assert (report.total, report.mixed) == (5, 1)
    # 3-class on the five non-mixed posts: negative F1 1, neutral 0, positive 1/2.
    assert report.per_class["negative"].f1 == 1.0
    assert report.per_class["neutral"].f1 == 0.0
    assert report.per_class["positive"].f1 == pytest.approx(0.5)
    assert report.macro_f1 == pytest.approx(0.5)
    assert report.official.score == pytest.approx(26 / 35)
    assert MIXED not in report.confusion and sum(sum(c.values()) for c in report.confusion.values()) == 5
    assert [m[1] for m in report.mistakes] == ["neutral", "positive"]


def test_subsets_irony_urls_replies_retweets(tmp_path):
    report = score(list(read_sentipolc(write_sentipolc(tmp_path / "s.csv"))), PREDICTED)
    posts = {name: sub.posts for name, sub in report.subsets.items()}
    # 3-class posts per subset (the mixed one is ironic and has no URL).
    assert posts == {"irony": 1, "no irony": 4, "with URL": 2, "no URL": 3, "reply (starts with @)": 2,
                     "retweet (RT)": 1}  # fmt: skip
    assert report.subsets["reply (starts with @)"].macro_f1 == 1.0  # both replies negative, both right
    # The ironic subset's official score counts the mixed post too.
    assert report.subsets["irony"].official == pytest.approx(
        official_score([MIXED, "negative"], ["negative"] * 2).score
    )


def test_plain_label_files_have_no_mixed_and_still_get_an_official_score():
    report = score([Labelled("a", "positive"), Labelled("b", "negative")], ["positive", "neutral"])
    assert report.mixed == 0 and report.official is not None and report.official.posts == 2
    assert "irony" not in report.subsets  # unknown for sets without an irony column


def test_bad_sentipolc_values_name_the_line(tmp_path):
    path = write_sentipolc(tmp_path / "bad.csv", [(1, 0, 0, "ok"), (2, 0, 0, "two is not a flag")])
    with pytest.raises(AscoltoError, match="line 3"):
        list(read_sentipolc(path))
    plain = tmp_path / "plain.csv"
    plain.write_text("text,label\nciao,pos\n", encoding="utf-8")
    with pytest.raises(AscoltoError, match="opos"):
        read_dataset(plain, "sentipolc")
    with pytest.raises(AscoltoError, match="Unknown format"):
        read_dataset(plain, "xml")


def test_eval_command_reads_sentipolc_and_reports_mixed_and_official(tmp_path):
    path = write_sentipolc(tmp_path / "s.csv")
    out = subprocess.run(
        [sys.executable, "-m", "ascolto", "eval", str(path), "--json"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    report = orjson.loads(out)
    assert (report["total"], report["mixed_excluded"], report["official"]["posts"]) == (5, 1, 6)
    assert set(report["official"]) == {"f_pos", "f_neg", "score", "posts"}
    assert set(report["subsets"]) >= {"irony", "no irony", "with URL", "reply (starts with @)", "retweet (RT)"}
    text = subprocess.run(
        [sys.executable, "-m", "ascolto", "eval", str(path), "--mistakes", "10"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    assert "1 mixed left out" in text and "official SENTIPOLC score" in text and "by subset" in text


def test_chain_predictor_uses_the_worker_chain_and_can_force_the_language():
    from ascolto.evaluation import chain_predictor
    from core.settings import Settings

    text = ["Servizio ottimo, personale gentilissimo e preparato"]  # Italian praise VADER's lexicon does not know
    assert chain_predictor(Settings())(text) == ["positive"]  # detected as Italian, as the worker would
    assert chain_predictor(Settings(), lang="it")(text) == ["positive"]
    assert chain_predictor(Settings(), lang="en")(text) == ["neutral"]  # forced to English: VADER sees nothing
