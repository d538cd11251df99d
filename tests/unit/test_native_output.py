"""The compiled enrichers give exactly what their sources give (mypyc runs the same code, but not
every built-in behaves alike: compiled ``str.lower`` once turned a final sigma into 'σ')."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

import streams.enrichers
from connectors.generator import GeneratorSource

DATA = Path(__file__).resolve().parents[1] / "data"
PIECES = (
    "non MOLTO bello!!! ... … @tizio @a.b@mastodon.social #Tag #tag_2 http://x.it/a?b=1). https://t.co/xY "
    "RT rt: ahah lol ma però anche se 3 ore di fila da 2 mesi per la terza volta bravi complimenti "
    "Banca Aurora Ospedale del Buon Consiglio è perché città ΣΟΦΟΣ ὈΔΥΣΣΕΎΣ İstanbul ß ﬁ ǅ :) :( <3 :-/ "
    "😂 😔 👏 🙄 👍🏽 🇮🇹 👩‍👩‍👧 ❤️ ✈︎ 1️⃣ x_y 123 bellissimooo graziee NOOOO good bad not great but "
    "the bill is WRONG again"
).split(" ")


def _texts() -> list[str]:
    texts = []
    for name in ("sentiment_it_dev.csv", "sentiment_it_holdout.csv", "sentiment_en_dev.csv"):
        with (DATA / name).open(encoding="utf-8", newline="") as fh:
            texts += [row["text"] for row in csv.DictReader(fh)]
    texts += [str(post["text"]) for post in GeneratorSource(count=400, seed=3, italian_share=0.5)]
    rng = random.Random(11)
    texts += [" ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 40))) for _ in range(1500)]
    texts += ["bello " * 400 + "!", "a" * 3000, "é" * 50]
    return [t.replace("\n", " ") for t in texts if t.strip()]


def _enrich(texts: list[str], native: str) -> list[dict[str, object]]:
    posts = "".join(text + "\n" for text in texts)  # plain text lines: `ascolto enrich` makes posts of them
    done = subprocess.run(
        [sys.executable, "-c", "from ascolto.cli.main import main; main()", "enrich", "-"],
        input=posts,
        capture_output=True,
        text=True,
        env={**os.environ, "ASCOLTO_NATIVE": native},
        check=True,
    )
    out = [json.loads(line) for line in done.stdout.splitlines()]
    for post in out:
        post.pop("enriched_at")
        post.pop("created_at")
    return out


@pytest.mark.skipif(
    os.environ.get("CI") != "true" and streams.enrichers.NATIVE != "compiled",
    reason="the enrichers are not compiled here (make compile); CI must compile them",
)
def test_the_compiled_chain_gives_the_same_posts_as_the_sources() -> None:
    texts = _texts()
    compiled, source = _enrich(texts, "1"), _enrich(texts, "0")
    assert len(compiled) == len(texts)
    different = [(c["text"], c, s) for c, s in zip(compiled, source, strict=True) if c != s]
    assert not different, different[:3]
