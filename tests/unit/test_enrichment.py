import functools
from types import MappingProxyType

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from schemas import dumps, raw_post, validate
from streams.enrichers import EnricherFailed, EnrichmentChain, enricher
from streams.enrichers.base import REGISTRY
from streams.enrichers.sentiment import label_for
from streams.processing import Enriched, Failed, enrich_message

ENGLISH = [
    "I love this service, the staff were wonderful!",
    "The outage lasted all day. Terrible, nobody answers the phone :(",
    "The office opens at 9.",
    "NOT happy with the bill at all!!!",
    "Not bad, but the app is slow 😡",
]


@pytest.fixture(scope="module")
def chain():
    return EnrichmentChain.from_names(["language", "sentiment", "entities"])


def post(text, **over):
    p = raw_post(source="t", native_id="1", text=text, created_at="2026-01-02T03:04:05Z", handle="u")
    p.update(over)
    return p


@pytest.mark.parametrize("text", ENGLISH)
def test_english_sentiment_is_exactly_vaders(chain, text):
    expected = SentimentIntensityAnalyzer().polarity_scores(text)
    got = chain.enrich(post(text))["sentiment"]
    assert {k: got[k] for k in ("compound", "pos", "neu", "neg")} == expected
    assert got["label"] == label_for(expected["compound"])
    assert got["model"] == "vader-3.3.2"


def test_labels_use_vader_thresholds():
    assert label_for(0.05) == "positive"
    assert label_for(0.0499) == "neutral"
    assert label_for(-0.05) == "negative"


def test_enriched_post_meets_contract(chain):
    out = chain.enrich(post("Great #Service by @Acme_IT see https://example.org/x.", lang_hint="en"))
    validate("enriched_post", out)
    assert out["lang"] == "en"
    assert out["entities"]["hashtags"] == ["service"]
    assert out["entities"]["mentions"] == ["acme_it"]
    assert out["entities"]["urls"] == ["https://example.org/x"]
    assert out["topics"] == []


def test_language_is_und_without_a_trustworthy_hint(chain):
    assert chain.enrich(post("hello", lang_hint=None))["lang"] == "und"
    assert chain.enrich(post("hello", lang_hint="english"))["lang"] == "und"


def test_chain_runs_in_declared_order_and_names_a_failing_enricher():
    calls = []

    @enricher("test_second", writes=("x",), order=2)
    def second(p):
        calls.append("second")
        return {"x": p["x"] + 1}

    @enricher("test_first", writes=("x",), order=1)
    def first(p):
        calls.append("first")
        return {"x": 1}

    @enricher("test_broken", writes=(), order=3)
    def broken(p):
        raise RuntimeError("boom")

    try:
        chain = EnrichmentChain.from_names(["test_second", "test_first"])
        assert chain.enrich(post("t"))["x"] == 2
        assert calls == ["first", "second"]
        with pytest.raises(EnricherFailed) as info:
            EnrichmentChain.from_names(["test_first", "test_broken"]).enrich(post("t"))
        assert info.value.name == "test_broken" and "boom" in info.value.error
    finally:
        for name in ("test_first", "test_second", "test_broken"):
            REGISTRY.pop(name)


def test_undeclared_field_is_refused():
    @enricher("test_sneaky", writes=("a",), order=1)
    def sneaky(p):
        return {"b": 1}

    try:
        with pytest.raises(EnricherFailed, match="undeclared"):
            EnrichmentChain.from_names(["test_sneaky"]).enrich(post("t"))
    finally:
        REGISTRY.pop("test_sneaky")


def test_unknown_enricher_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown enricher"):
        EnrichmentChain.from_names(["language", "nope"])


def test_enrich_message_outcomes(chain):
    ok = enrich_message(chain, dumps(post("fine")))
    assert isinstance(ok, Enriched) and ok.post["id"] == "t:1"
    bad = enrich_message(chain, b"\xff")
    assert isinstance(bad, Failed) and bad.stage == "decode"
    invalid = enrich_message(chain, dumps(post(5)))
    assert isinstance(invalid, Failed) and invalid.stage == "validate"


def test_custom_enricher_fields_reach_the_enriched_post():
    @enricher("test_question", writes=("asks_question",), order=50)
    def question(p):
        return {"asks_question": p["text"].strip().endswith("?")}

    try:
        chain = EnrichmentChain.from_names(["language", "sentiment", "test_question"])
        outcome = enrich_message(chain, dumps(post("Quando riapre lo sportello?")))
        assert isinstance(outcome, Enriched)
        assert outcome.post["asks_question"] is True
    finally:
        REGISTRY.pop("test_question")


class Answers:
    """An enricher that returns what it is given: the chain must check every shape the same way."""

    name, order = "test_answers", 1

    def __init__(self, answer, writes=("a",)):
        self.answer, self.writes = answer, writes

    def __call__(self, p):
        return self.answer


class InheritedCall(Answers):
    pass


class PartialEnricher(functools.partial):
    """Called through a C ``__call__``, not a Python function."""

    name, writes, order = "test_partial", ("a",), 1


@pytest.mark.parametrize("kind", [Answers, InheritedCall])
@pytest.mark.parametrize(
    ("answer", "writes", "written"),
    [
        ({"a": 1}, ("a",), {"a": 1}),
        ({"a": 1, "c": 2}, ("a", "c"), {"a": 1, "c": 2}),
        (MappingProxyType({"a": 2}), ("a",), {"a": 2}),
        ({}, ("a",), {}),
        (None, ("a",), {}),
    ],
)
def test_declared_fields_reach_the_post_whatever_the_mapping(kind, answer, writes, written):
    out = EnrichmentChain([kind(answer, writes)]).enrich(post("t"))
    assert {k: out[k] for k in written} == written
    assert set(out) - set(written) == set(post("t")) | {"lang", "topics", "entities", "enriched_at"}


@pytest.mark.parametrize(
    ("answer", "writes"),
    [
        ({"b": 1}, ("a",)),
        ({"a": 1, "b": 1}, ("a",)),
        ({None: 1}, ("a", "c")),  # no declared field stands for "several" as None would
        ({None: 1}, ()),
        (MappingProxyType({"b": 1}), ("a",)),
    ],
)
def test_undeclared_fields_fail_the_post_whatever_the_mapping(answer, writes):
    with pytest.raises(EnricherFailed, match="undeclared"):
        EnrichmentChain([Answers(answer, writes)]).enrich(post("t"))


def test_an_enricher_called_through_c_code_runs_too():
    chain = EnrichmentChain([PartialEnricher(lambda p: {"a": p["text"].upper()})])
    assert chain.enrich(post("t"))["a"] == "T"
    assert chain.enrich(post("u"))["a"] == "U"
