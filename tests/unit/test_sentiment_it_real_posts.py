"""The error classes real Italian posts show (issue 13), each on short examples written for the test."""

import os

import pytest

from ascolto.testing import wait_for
from core.settings import Settings
from streams.enrichers.sentiment_it import ItalianSentiment

LEXICON = {
    "pessimo": -3.0, "efficiente": 2.0, "gentile": 2.0, "bravi": 2.2, "bravo": 2.2, "grazie": 1.8, "ottimo": 3.1,
    "stupidaggini": -2.0, "male": -1.8, "buon": 1.9, "bella": 2.0, "vergogna": -2.6, "ridicolo": -2.2,
}  # fmt: skip


@pytest.fixture(scope="module")
def scorer():
    return ItalianSentiment(LEXICON, settings=Settings())


@pytest.fixture(scope="module")
def it(scorer):
    return lambda text: scorer.polarity_scores(text)["compound"]


def test_a_question_asking_for_information_is_recognised_past_mentions_and_rt(it):
    plain = it("sapete se lo sportello è efficiente?")
    assert 0 < plain < 0.1  # damped: it asks, it does not praise
    assert it("@comune_x sapete se lo sportello è efficiente?") == plain
    assert it("RT @utente: @comune_x sapete se lo sportello è efficiente?") == plain


def test_mentions_and_links_carry_no_valence(it):
    assert it("@pessimo ciao, il modulo è arrivato") == 0
    assert it("il modulo è arrivato https://esempio.it/ottimo") == 0
    assert it("@utente:pessimo") < 0  # the words glued after a mention still count


def test_a_negated_negative_word_leans_to_neutral_instead_of_praise(it):
    # VADER's rule flipped these to clear praise.
    assert -0.3 < it("non dire stupidaggini") <= 0
    assert abs(it("non è ridicolo")) < it("è gentile") / 2
    # A negated positive word is still criticism, and the litotes that praise are idioms.
    assert it("non è gentile") < 0
    assert it("non è male") > 0 and it("niente male") > 0


def test_emoji_carry_the_sign_of_their_meaning_not_of_the_words_in_their_name(it):
    # VADER scores 😔 ("pensive face") and 💔 ("broken heart") positive.
    assert it("la sede chiude 😔") < 0
    assert it("la sede chiude 💔") < 0
    assert it("la sede chiude 😲") == 0


def test_laughter_in_a_reply_that_complains_mocks_instead_of_praising(it):
    assert it("@comune_x 😂😂 che vergogna") < it("che vergogna") < 0
    assert it("@comune_x 😂 come no, bravi") < 0  # an irony cue
    # Laughter without a cue of mockery stays joy; written laughter carries no valence.
    assert it("@amica_y 😂😂") > 0
    assert it("il modulo è arrivato 😂") > 0
    assert it("ahahah il modulo è arrivato lol") == 0


def test_evaluative_words_inside_capitalised_names_carry_no_valence(it):
    assert it("ricoverato all'Ospedale del Buon Consiglio") == 0
    assert it("domani apre la Bella Italia in centro") == 0
    assert it("ho scritto alla Banca Ottima Fiducia") == 0
    # Praise of a name is still praise, and so is a capitalised word opening a sentence.
    assert it("oggi Bravo Presidente") > 0
    assert it("Buon lavoro a tutti") > 0


def test_watch_terms_and_neutral_phrases_are_names_without_valence(tmp_path):
    phrases = tmp_path / "neutral.yaml"
    phrases.write_text("neutral_phrases: [Ottimo Gusto, pessimo affare]\n", encoding="utf-8")
    watch = tmp_path / "watch.yaml"
    watch.write_text("watch_terms:\n  Gentile Energia: [gentile luce]\n", encoding="utf-8")
    settings = Settings(neutral_phrases=phrases, watch_terms=watch, reload_seconds=0.05)
    it = ItalianSentiment(LEXICON, settings=settings).polarity_scores
    # Written in lower case or at a sentence's start, where capitals say nothing.
    assert it("ottimo gusto ha aperto un negozio")["compound"] == 0
    assert it("Pessimo affare: il nuovo listino è online")["compound"] == 0
    assert it("la bolletta di gentile luce è arrivata")["compound"] == 0
    assert it("ottimo gusto, personale gentile")["compound"] > 0  # the rest of the post still counts
    # The file reloads while the scorer runs.
    phrases.write_text("neutral_phrases: [Banca Aurora]\n", encoding="utf-8")
    os.utime(phrases, (1, 1))
    wait_for(lambda: it("ottimo gusto ha aperto")["compound"] > 0, timeout=5, what="the new neutral phrases")


def test_a_malformed_neutral_phrases_file_is_refused_naming_it(tmp_path):
    bad = tmp_path / "neutral.yaml"
    bad.write_text("neutral_phrases: {a: [\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"neutral\.yaml"):
        ItalianSentiment(LEXICON, settings=Settings(neutral_phrases=bad))
    bad.write_text("neutral_phrases: Banca Aurora\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'neutral_phrases' list"):
        ItalianSentiment(LEXICON, settings=Settings(neutral_phrases=bad))


def test_a_shared_headline_weighs_less_than_an_opinion(it):
    headline = it("Comune, servizio pessimo secondo il rapporto https://esempio.it/a")
    assert it("Comune, servizio pessimo secondo il rapporto") < headline < 0
    # A reply, or a first person, is someone's opinion even with a link.
    assert it("@comune_x servizio pessimo https://esempio.it/a") == it("@comune_x servizio pessimo")
    assert it("io trovo il servizio pessimo https://esempio.it/a") == it("io trovo il servizio pessimo")


def test_italian_labels_use_the_cut_offs_chosen_on_the_dev_set():
    from streams.enrichers import sentiment_it
    from streams.enrichers.sentiment import _sentiment

    scores = {"compound": 0.1, "pos": 0.1, "neu": 0.9, "neg": 0.0}
    assert _sentiment(scores, sentiment_it.MODEL)["label"] == "neutral"  # under +0.15
    assert _sentiment(scores, "vader-3.3.2")["label"] == "positive"  # VADER keeps its ±0.05
    assert sentiment_it.label_for(0.15) == "positive"
    assert sentiment_it.label_for(-0.05) == "negative"
