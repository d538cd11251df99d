"""The sentiment enricher honours the settings the chain is built with (not the process's environment)."""

import pytest

from core.errors import ConfigError
from core.settings import Settings
from streams.enrichers.chain import chain_from_settings

POST = "cena da ottimo gusto ieri sera"


def _italian_compound(settings: Settings) -> float:
    chain = chain_from_settings(settings)
    sentiment = next(e for e in chain.enrichers if e.name == "sentiment")
    return sentiment({"text": POST, "lang": "it"})["sentiment"]["compound"]


def test_a_chain_built_from_settings_masks_their_neutral_phrases(tmp_path, monkeypatch):
    monkeypatch.delenv("ASCOLTO_NEUTRAL_PHRASES", raising=False)
    phrases = tmp_path / "neutral.yaml"
    phrases.write_text("neutral_phrases: [Ottimo Gusto]\n", encoding="utf-8")
    assert _italian_compound(Settings(neutral_phrases=None)) > 0  # "ottimo" is praise by itself
    assert _italian_compound(Settings(neutral_phrases=phrases)) == 0  # the restaurant's name is not


def test_a_broken_neutral_phrases_file_stops_the_chain_naming_it(tmp_path):
    bad = tmp_path / "my_neutral_phrases.yaml"
    bad.write_text("neutral_phrases: {a: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"my_neutral_phrases\.yaml"):
        chain_from_settings(Settings(neutral_phrases=bad))
