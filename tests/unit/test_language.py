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
