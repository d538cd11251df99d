"""The Italian rules, on a small lexicon fixed here so each rule is seen on its own."""

import pytest

from streams.enrichers.sentiment_it import ItalianSentiment

LEXICON = {
    "pessimo": -3.0, "efficiente": 2.0, "efficienti": 2.0, "gentile": 2.0, "gentili": 2.0, "schifo": -3.1,
    "fa schifo": -3.3, "bravi": 2.2, "complimenti": 2.4, "grazie": 1.8, "grazie mille": 2.6, "problemi": -1.6,
    "lento": -1.3, "lenti": -1.3, "bellissimo": 3.0, "vergogna": -2.6, "ritardo": -1.4, "ottimo": 3.1,
    "utile": 1.5, "chiaro": 1.3, "ottima": 3.1,
}  # fmt: skip


@pytest.fixture(scope="module")
def it():
    scorer = ItalianSentiment(LEXICON)
    return lambda text: scorer.polarity_scores(text)["compound"]


def test_lexicon_words_and_phrases(it):
    assert it("Servizio pessimo") < -0.5
    assert it("Grazie mille") > it("Grazie") > 0
    assert it("Fa schifo") < it("schifo") < 0  # the phrase wins over its words
    assert it("Il modulo è stato inviato") == 0


def test_negation_scope_and_concord(it):
    assert it("Servizio pessimo") < it("Servizio non pessimo") <= 0  # leans to neutral, no praise (issue 13)
    assert it("Non è per niente efficiente") < 0
    assert it("Non mi è mai sembrato utile") < 0  # clitics and auxiliaries are skipped
    assert it("Senza problemi") > 0
    assert it("Mai una persona gentile allo sportello") < 0
    # Negative concord: "non ... nessun" negates once, so the praise stays negated, not restored.
    assert it("Non ho trovato nessun operatore gentile") < 0
    # A clause boundary ends the scope.
    assert it("Non lo so, personale gentile") > 0


def test_boosters_dampeners_and_poco(it):
    assert it("Personale molto gentile") > it("Personale gentile") > it("Personale abbastanza gentile") > 0
    assert it("Personale gentile davvero") > it("Personale gentile")
    assert it("Personale poco gentile") < 0
    assert it("Sito poco chiaro") < 0


def test_contrast_and_concession(it):
    assert it("Gentili ma lenti") < 0
    assert it("Lenti ma gentili") > 0
    assert it("Ottimo, anche se lento") > 0


def test_capitals_exclamations_and_elongation(it):
    assert it("servizio PESSIMO") < it("servizio pessimo")
    assert it("pessimo!!!") < it("pessimo")
    assert it("bellissimooo") > it("bellissimo") > 0


def test_emoji_and_emoticons_as_vader_scores_them(it):
    assert it("😢") < 0 and it("ok 😍") > 0  # VADER's own emoji scores
    assert it("😡") < 0 and it("👍") > 0  # our additions for emoji VADER leaves at zero
    assert it("che giornata :(") < 0 and it("tutto fatto :)") > 0


def test_sarcasm(it):
    assert it("Bravi, 3 ore di fila 👏👏") < 0
    assert it("Complimenti per il ritardo...") < 0
    assert it("Ottimo, come no. Ennesimo ritardo") < 0
    assert it("Complimenti, personale gentile ed efficiente") > 0  # praise without a complaint stays praise


def test_waiting_in_numbers_is_a_complaint(it):
    assert it("Sono qui da 3 ore") < 0
    assert it("Aspetto il rimborso da 2 mesi") < 0


def test_idioms(it):
    assert it("Mai più con voi") < 0
    assert it("Non risponde nessuno") < 0
    assert it("Tutto risolto") > 0


def test_output_has_vader_shape(it):
    scores = ItalianSentiment(LEXICON).polarity_scores("Personale gentile ma lento!")
    assert set(scores) == {"neg", "neu", "pos", "compound"}
    assert abs(scores["neg"] + scores["neu"] + scores["pos"] - 1) < 0.01
