"""Enrichers found by entry point or module path, and what a failing one does."""

import sys

import pytest

from ascolto.testing import make_post, run_enricher
from schemas import dumps
from streams.enrichers import EnricherNotFound, EnrichmentChain
from streams.enrichers.base import REGISTRY
from streams.processing import Enriched, Failed, enrich_message

PLUGIN = """
from streams.enrichers import enricher

@enricher("{name}", writes=("asks_question",), order=50)
def question(post):
    return {{"asks_question": post["text"].rstrip().endswith("?")}}

@enricher("{name}_broken", writes=("x",), order=55)
def broken(post):
    raise KeyError("no such field")

class Shouting:
    name, writes, order = "{name}_shouting", ("shouting",), 60
    def __call__(self, post):
        return {{"shouting": post["text"].isupper()}}
"""


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """A real installed-looking package: a module plus a dist-info with an entry point."""
    name = f"plug{tmp_path.name[-6:].replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(PLUGIN.format(name=name))
    dist = tmp_path / f"{name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[ascolto.enrichers]\n{name}_ep = {name}:question\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    for key in [k for k in REGISTRY if k.startswith(name)]:
        REGISTRY.pop(key)
    sys.modules.pop(name, None)


def test_entry_point_plugin(plugin_module):
    chain = EnrichmentChain.from_names(["language", f"{plugin_module}_ep"])
    assert chain.enrich(make_post("Quando riapre lo sportello?"))["asks_question"] is True


def test_dotted_path_plugins_function_and_plain_class(plugin_module):
    assert run_enricher(f"{plugin_module}:question", "Che ore sono?")["asks_question"] is True
    assert run_enricher(f"{plugin_module}.Shouting", "BASTA")["shouting"] is True


def test_failing_plugin_sends_the_post_to_the_dlq_with_its_name(plugin_module):
    chain = EnrichmentChain.from_names(["language", "sentiment", f"{plugin_module}:broken"])
    outcome = enrich_message(chain, dumps(make_post("ciao a tutti")))
    assert isinstance(outcome, Failed)
    assert outcome.stage == f"enrich:{plugin_module}_broken"
    assert "KeyError" in outcome.reason
    # The chain itself is fine for the next post once the bad enricher is removed.
    healthy = EnrichmentChain.from_names(["language", "sentiment"])
    assert isinstance(enrich_message(healthy, dumps(make_post("ok"))), Enriched)


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("nope", "unknown enricher"), ("no_such_module:thing", "cannot import"), ("json:dumps", "not an enricher")],
)
def test_bad_names_are_clear_errors(name, fragment):
    with pytest.raises(EnricherNotFound, match=fragment):
        EnrichmentChain.from_names([name])


def test_documented_example_enricher(monkeypatch):
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "docs" / "examples"))
    try:
        assert run_enricher("question_enricher:question", "Quando riapre lo sportello?")["asks_question"] is True
        assert run_enricher("question_enricher:question", "How do I renew my card")["asks_question"] is True
        assert run_enricher("question_enricher:question", "Tutto ok, grazie")["asks_question"] is False
    finally:
        REGISTRY.pop("question", None)
        sys.modules.pop("question_enricher", None)


def test_configured_chain_must_score_sentiment():
    from core.errors import ConfigError
    from core.settings import Settings
    from streams.enrichers.chain import chain_from_settings

    with pytest.raises(ConfigError, match="sentiment"):
        chain_from_settings(Settings(enrichers="language,topics"))
    with pytest.raises(ConfigError, match="ASCOLTO_ENRICHERS"):
        chain_from_settings(Settings(enrichers="language,sentiment,nope"))
    assert chain_from_settings(Settings()).names == ["language", "sentiment", "topics", "entities", "duplicates"]
