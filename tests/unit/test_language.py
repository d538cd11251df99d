import pytest

from ascolto.testing import make_post
from streams.enrichers.language import Language, LanguageDetector


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector(["it", "en", "es", "fr", "de", "pt"], threshold=0.5)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Il treno delle 8 è di nuovo in ritardo, non se ne può più", "it"),
        ("The train is late again and nobody tells us why", "en"),
        ("Ancora nessuna risposta dal call center dopo tre settimane", "it"),
        ("El servicio de atención al cliente es muy malo", "es"),
        ("Le service client ne répond jamais au téléphone", "fr"),
        ("Der Zug ist schon wieder zu spät angekommen", "de"),
        ("ok", "und"),
        ("@inps_it ???", "und"),
        ("https://example.org/x", "und"),
    ],
)
def test_detects_language_or_says_und(detector, text, lang):
    assert detector.detect(text) == lang


def test_hint_is_used_unless_the_text_clearly_disagrees(detector):
    assert detector.detect("Grazie!", hint="it") == "it"
    assert detector.detect("SPID down", hint="it") == "it"
    assert detector.detect("The office is closed and the phone line is dead", hint="it") == "en"


def test_enricher_can_ignore_hints():
    from core.settings import Settings

    enricher = Language(Settings(trust_lang_hint=False))
    assert enricher(make_post("Grazie!", lang_hint="en"))["lang"] == "und"
    assert Language(Settings())(make_post("Grazie!", lang_hint="en"))["lang"] == "en"


@pytest.mark.parametrize(
    "text",
    [
        "@someone HA HA HA HA HA #hahahaha",
        "ha ha ha ha ha ha lol",
        "@mario @luigi",
        "hahaha 😂😂😂",
        "che che che che che",  # one word repeated is one piece of evidence
    ],
)
def test_hint_stands_for_short_laughter_and_mention_posts(detector, text):
    assert detector.detect(text, hint="en") == "en"


def test_a_few_foreign_names_do_not_override_the_hint(detector):
    # Two English function words inside titles are not a post in English.
    assert detector.detect("Stasera in tv: Prince of Persia and friends", hint="it") == "it"


def test_clear_text_overrides_a_wrong_hint(detector):
    assert detector.detect("Il treno è di nuovo in ritardo e non ci dicono niente", hint="en") == "it"
    assert detector.detect("The office is closed and the phone line is dead", hint="it") == "en"


def test_hinted_english_laughter_gets_vaders_score():
    from streams.enrichers.chain import EnrichmentChain

    chain = EnrichmentChain.from_names(["language", "sentiment"])
    post = chain.enrich(make_post("@someone HA HA HA HA HA #hahahaha", lang_hint="en"))
    assert post["lang"] == "en"
    assert post["sentiment"]["compound"] > 0.9  # VADER's own score for the text
    assert post["sentiment"]["label"] == "positive"
