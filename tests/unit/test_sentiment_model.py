"""The trained-model scorer the worker runs: file format, refusals, and its place in the sentiment enricher."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.errors import ConfigError
from core.settings import Settings
from streams.enrichers.chain import EnrichmentChain, chain_from_settings
from streams.enrichers.sentiment import MultilingualSentiment
from streams.enrichers.sentiment_model import (
    FEATURE_VERSION,
    RULE_FEATURES,
    Block,
    ModelError,
    SentimentModel,
    load_models,
    most_likely,
    text_grams,
    tokens,
)

META = {"feature_version": FEATURE_VERSION, "lang": "it", "name": "toy", "trained_at": "2026-01-02T03:04:05+00:00"}


def toy_model(meta: dict | None = None) -> SentimentModel:
    """A hand-made model: 'gatto' means positive, 'cane' negative, anything else neutral."""
    words = Block({"gatto": 0, "cane": 1}, np.ones(2), np.array([[-3.0, 0.0, 3.0], [3.0, 0.0, -3.0]]))
    chars = Block({}, np.zeros(0), np.zeros((0, 3)))
    return SentimentModel(meta or META, words, chars, np.zeros((RULE_FEATURES, 3)), np.array([0.0, 1.0, 0.0]))


NEUTRAL_RULES = {"compound": 0.0, "pos": 0.0, "neu": 1.0, "neg": 0.0}


def test_tokens_fold_and_replace_what_varies() -> None:
    assert tokens("@Mario PERCHÉ #Bello http://x.it/a 2024 Bellooooo!") == [
        "@user", "perche", "#bello", "bello", "httpurl", "0", "bello", "!",
    ]  # fmt: skip
    words, chars = text_grams(["ok", "#tag", "!"])
    assert words == ["ok", "#tag", "!", "ok #tag", "#tag !"]
    assert chars == [" o", "ok", "k ", " ok", "ok ", " ok "]  # hashtags and symbols have no character grams


def test_the_model_decides_from_its_weights() -> None:
    model = toy_model()
    assert most_likely(model.polarity_scores("Che bel gatto", NEUTRAL_RULES)) == "positive"
    assert most_likely(model.polarity_scores("Quel cane!", NEUTRAL_RULES)) == "negative"
    assert most_likely(model.polarity_scores("Nessuna parola nota", NEUTRAL_RULES)) == "neutral"
    scores = model.polarity_scores("gatto", NEUTRAL_RULES)
    assert scores["neg"] + scores["neu"] + scores["pos"] == pytest.approx(1, abs=1e-3)
    assert scores["compound"] == pytest.approx(scores["pos"] - scores["neg"], abs=1e-3)


def test_save_and_load_give_the_same_scores(tmp_path: Path) -> None:
    model = toy_model()
    model.save(tmp_path / "m.npz")
    again = SentimentModel.load(tmp_path / "m.npz")
    assert again.meta == model.meta
    assert again.model == "trained:toy@2026-01-02"
    for text in ("gatto", "cane cane gatto", "niente"):
        assert again.polarity_scores(text, NEUTRAL_RULES) == model.polarity_scores(text, NEUTRAL_RULES)


def test_a_model_of_another_feature_version_is_refused_with_one_sentence(tmp_path: Path) -> None:
    toy_model({**META, "feature_version": FEATURE_VERSION + 1}).save(tmp_path / "old.npz")
    with pytest.raises(ModelError) as info:
        SentimentModel.load(tmp_path / "old.npz")
    message = str(info.value)
    assert f"feature version {FEATURE_VERSION + 1}" in message and "retrain it with `ascolto train`" in message
    assert message.count(". ") == 0 and "\n" not in message


@pytest.mark.parametrize("content", [b"not a zip at all", b"PK\x03\x04 truncated"])
def test_a_corrupt_file_is_refused_with_one_sentence(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ModelError, match=r"is not a readable ascolto sentiment model .*ascolto train"):
        SentimentModel.load(path)


def test_a_file_with_a_pickled_array_is_refused_without_running_it(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    toy_model().save(good)
    with np.load(good) as data:
        arrays = dict(data)
    arrays["meta"] = np.array([{"feature_version": FEATURE_VERSION}], dtype=object)  # needs pickle to read
    np.savez(tmp_path / "pickled.npz", **arrays)
    with pytest.raises(ModelError, match="not a readable"):
        SentimentModel.load(tmp_path / "pickled.npz")


def test_a_model_missing_an_array_is_refused(tmp_path: Path) -> None:
    good = tmp_path / "good.npz"
    toy_model().save(good)
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(tmp_path / "cut.npz", "w") as dst:
        for item in src.infolist():
            if item.filename != "char_idf.npy":
                dst.writestr(item, src.read(item))
    with pytest.raises(ModelError, match="not a readable"):
        SentimentModel.load(tmp_path / "cut.npz")


def test_missing_file_and_two_models_for_one_language_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"No sentiment model file at .*ASCOLTO_SENTIMENT_MODEL"):
        load_models([tmp_path / "nowhere.npz"])
    toy_model().save(tmp_path / "a.npz")
    toy_model().save(tmp_path / "b.npz")
    with pytest.raises(ModelError, match="two models for language 'it'"):
        load_models([tmp_path / "a.npz", tmp_path / "b.npz"])


def test_the_enricher_uses_the_model_for_its_language_only(tmp_path: Path) -> None:
    toy_model().save(tmp_path / "it.npz")
    sentiment = MultilingualSentiment(Settings(sentiment_model=f" {tmp_path / 'it.npz'} , "))
    rules = MultilingualSentiment()
    italian = sentiment.score("Ottimo servizio, ma il cane abbaia", "it")
    assert italian["model"] == "trained:toy@2026-01-02"
    assert italian["label"] == "negative"  # the model's word, where the rules read praise
    assert rules.score("Ottimo servizio, ma il cane abbaia", "it")["model"] != italian["model"]
    english = "What a wonderful day, I love it"
    assert sentiment.score(english, "en") == rules.score(english, "en")
    assert sentiment.score("gatto", "und") == rules.score("gatto", "und")


def test_the_chain_built_from_settings_uses_the_model(tmp_path: Path) -> None:
    toy_model().save(tmp_path / "it.npz")
    settings = Settings(sentiment_model=str(tmp_path / "it.npz"), enrichers="sentiment")
    chain = chain_from_settings(settings)
    post = {"id": "p1", "source": "test", "text": "un gatto", "created_at": "2026-01-01T00:00:00Z", "lang": "it"}
    enriched = chain.enrich(post)  # type: ignore[arg-type]
    assert enriched["sentiment"]["model"] == "trained:toy@2026-01-02"
    assert enriched["sentiment"]["label"] == "positive"
    assert EnrichmentChain.from_names(["sentiment"]).enrich(post)["sentiment"]["model"] != "trained:toy@2026-01-02"  # type: ignore[arg-type]


def test_a_bad_model_setting_stops_the_chain_with_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "x.npz").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match=r"x\.npz is not a readable ascolto sentiment model"):
        chain_from_settings(Settings(sentiment_model=str(tmp_path / "x.npz")))
