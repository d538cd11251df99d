import re

import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from ascolto.testing import make_post
from streams.enrichers.language import _NOISE, Language, LanguageDetector
from streams.enrichers.text import fold, letter_words


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


@pytest.mark.parametrize(
    "text",
    [
        "Guarda http://x.it/a?b=1#c e https://y.com, poi #tag e @tizio_2!",
        "HTTP://MAIUSCOLO.IT resta, h ttp:// no, xhttp://z.it/q taglia da h",
        "@https://a.it #http://b.it ##doppio @@doppia email@posta.it",
        "#perché@città #ÈVERO hhttps://x.y fine#",
        "",
    ],
)
def test_noise_pattern_removes_what_the_plain_pattern_removes(text):
    # _NOISE is written for speed; it must cut exactly the spans of the readable form.
    assert _NOISE.sub(" ", text) == re.sub(r"https?://\S+|[@#]\w+", " ", text)


MODEL_TEXTS = [
    "Mario Monti eccellente",
    "Prince of Persia",
    "governo tecnico oggi",
    "Obrigado pela ajuda",
    "PERCHÉ NON SI SA",
    "Привет как дела",
    "中文 测试 ок",
    "",
    "   ",
    "x",
]


def test_the_detectors_model_gives_the_stock_models_scores(detector):
    # The float32 table: every score bit for bit, featureless texts included.
    stock = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    stock.set_languages(detector.candidates)
    for text in MODEL_TEXTS:
        assert detector._model()._decide(text).tobytes() == stock._decide(text).tobytes()
        assert detector._model().classify(text) == stock.classify(text)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("Gracias por todo, nos vemos mañana en la playa", "es"),
        ("Je ne sais pas pourquoi le train est en retard", "fr"),
        ("Merci beaucoup pour votre aide", "fr"),
        ("Não sei por que o ônibus está atrasado de novo", "pt"),
        ("Obrigado pela ajuda, até amanhã", "pt"),
        ("Ich weiß nicht, warum der Zug wieder zu spät ist", "de"),
        ("Vielen Dank für die schnelle Hilfe", "de"),
    ],
)
def test_the_vote_leaves_other_candidate_languages_to_the_model(detector, text, lang):
    assert detector.vote(letter_words(fold(text))) is None
    assert detector.detect(text) == lang


def test_a_hint_that_is_not_a_language_code_is_ignored(detector):
    for _ in range(2):  # the second time from the cache of checked hints
        assert detector.detect("Grazie!", hint="Italian") == "und"
        assert detector.detect("Grazie!", hint="it") == "it"
