import pytest

from streams.enrichers.text import fold, folded_letter_words, letter_words, match_text


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Perché CITTÀ", "perche citta"),
        ("plain ASCII, Even Punctuation!", "plain ascii, even punctuation!"),
        ("İstanbul naïve Ærø", "istanbul naive ærø"),  # İ lower-cases to i + a combining dot; ø has no accent to strip
        ("già 😀 più", "gia 😀 piu"),  # emoji pass through
        ("ΟΔΟΣ Σ", "οδος σ"),  # as Python lower-cases: a final sigma is 'ς' (mypyc's lower() wrote 'σ')
        ("", ""),
    ],
)
def test_fold_strips_case_and_accents_only(text, folded):
    assert fold(text) == folded


@pytest.mark.parametrize(
    ("text", "matched"),
    [
        ("Il treno, di nuovo!", " il treno di nuovo  "),
        ("¿Qué? no", "  que no "),
        ("Bollette #PagoPA ok", " bollette #pagopa pagopa ok "),
        ("@inps_it risponde", " @inps_it risponde "),
    ],
)
def test_match_text_pads_words_with_single_spaces(text, matched):
    assert match_text(text) == matched


def test_latin1_text_folds_as_character_by_character():
    # fold() takes a bytes.translate shortcut for Latin-1 text: it must agree with the
    # per-character folding on every Latin-1 character, in upper and lower case.
    from streams.enrichers.text import _fold_char

    latin1 = "".join(map(chr, range(256)))
    for text in (latin1, latin1.upper(), latin1 + " città"):
        low = text.lower()
        expected = "".join(_fold_char(ch) for ch in low)
        assert fold(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "".join(map(chr, range(128))),
        "".join(map(chr, range(256))),
        " ".join("a" + chr(code) + "b" for code in range(256)),
        "Perché la CITTÀ è così bella? Già, ½ e x² restano, 3ª volta, l'ŒUVRE",
        "ΣΟΦΟΣ ΝΟΥΣ İstanbul straße ﬁne 😂ok",
        "",
        "a",
    ],
)
def test_folded_letter_words_are_the_letter_words_of_the_folded_text(text):
    assert folded_letter_words(text) == letter_words(fold(text))
