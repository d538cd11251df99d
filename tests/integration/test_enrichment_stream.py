"""Italian and English posts through the real stack: language, sentiment model, topics, entities,
duplicates; and plugins loaded by the worker, including one that fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from elasticsearch.helpers import scan

from ascolto.testing import LocalPipeline, make_post

EXAMPLES = str(Path(__file__).resolve().parents[2] / "docs" / "examples")

POSTS = [
    make_post("La bolletta della luce è sbagliata, vergogna! Voglio il rimborso 😡", native_id="it-bill"),
    make_post("Il treno regionale è stato soppresso di nuovo, che disastro", native_id="it-train"),
    make_post("Grazie mille al personale dello sportello, gentilissimi e veloci!", native_id="it-thanks"),
    make_post(
        "My train was cancelled again, still waiting for the refund. Terrible service, I am furious",
        native_id="en-train",
    ),
    make_post("Great job @acme, the new app works perfectly 👍", native_id="en-app"),
    make_post("El servicio de atención al cliente no funciona nunca", native_id="es-1"),
    make_post("RT: la bolletta della luce è sbagliata, vergogna! voglio il rimborso", native_id="it-repost"),
]


def test_italian_and_english_posts_are_enriched_and_indexed(pipeline):
    pipeline.start_worker()
    assert pipeline.publish(POSTS) == len(POSTS)
    pipeline.wait_count(len(POSTS))
    docs = {h["_source"]["native_id"]: h["_source"] for h in scan(pipeline.es, index=pipeline.settings.es_index)}

    for key in ("it-bill", "it-train", "it-thanks", "it-repost"):
        assert docs[key]["lang"] == "it", key
        assert docs[key]["sentiment"]["model"] == "ascolto-it-1", key
    for key in ("en-train", "en-app"):
        assert docs[key]["lang"] == "en", key
        assert docs[key]["sentiment"]["model"] == "vader-3.3.2", key
    assert docs["es-1"]["lang"] == "es"
    assert docs["es-1"]["sentiment"]["model"] == "vader-3.3.2-fallback"

    assert docs["it-bill"]["sentiment"]["label"] == "negative"
    assert docs["it-train"]["sentiment"]["label"] == "negative"
    assert docs["it-thanks"]["sentiment"]["label"] == "positive"
    assert docs["en-train"]["sentiment"]["label"] == "negative"
    assert docs["en-app"]["sentiment"]["label"] == "positive"

    assert "billing" in docs["it-bill"]["topics"]
    assert "transport" in docs["it-train"]["topics"]
    assert {"transport", "billing"} <= set(docs["en-train"]["topics"])
    assert "digital_services" in docs["en-app"]["topics"]
    assert docs["it-bill"]["entities"]["emoji"] == ["😡"]
    assert docs["en-app"]["entities"]["mentions"] == ["acme"]
    # Reposts share a repost_key, a keyword Elasticsearch can group by.
    assert docs["it-repost"]["repost_key"] == docs["it-bill"]["repost_key"] is not None
    assert docs["it-train"]["repost_key"] != docs["it-bill"]["repost_key"]
    assert pipeline.count({"term": {"repost_key": docs["it-bill"]["repost_key"]}}) == 2

    # Keyword facets work on the indexed enrichment.
    assert pipeline.count({"term": {"topics": "billing"}}) >= 2
    assert pipeline.count({"term": {"sentiment.model": "ascolto-it-1"}}) == 4


def test_worker_loads_plugins_and_dead_letters_what_one_fails_on(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(EXAMPLES)
    enrichers = "language,sentiment,question_enricher:question,tests.integration.failing_plugin:flaky"
    with LocalPipeline(tmp_path, enrichers=enrichers) as p:
        p.start_worker()
        p.publish([make_post("Quando riapre lo sportello?", native_id="q"), make_post("boom", native_id="b"),
                   make_post("Tutto ok, grazie", native_id="ok")])  # fmt: skip
        [letter] = p.read_dead_letters(1)
        assert letter["stage"] == "enrich:flaky"
        assert "cannot handle boom" in letter["error"]
        enriched = {e["native_id"]: e for e in p.read_enriched(2)}
        assert enriched["q"]["asks_question"] is True and enriched["q"]["flaky_ok"] is True
        assert enriched["ok"]["asks_question"] is False
        p.wait_count(2)
        p.assert_worker_alive()


@pytest.mark.parametrize("bad", ["nope", "no_such_module:thing"])
def test_worker_refuses_unknown_enrichers_with_one_sentence(pipeline, bad):
    env = {**pipeline.env, "ASCOLTO_ENRICHERS": f"language,{bad}"}
    result = subprocess.run(
        [sys.executable, "-m", "ascolto", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "ASCOLTO_ENRICHERS" in result.stderr
