"""The closed word classes of ascolto's Italian sentiment rules (written for ascolto).

The open class, words and phrases with a valence, is ``data/lexicon_it.tsv``. Everything here
is folded (lower case, no accents), as the scorer compares folded tokens.
"""

from __future__ import annotations

#: Words that negate what follows them in the clause. Italian has negative concord
#: ("non risponde nessuno" is one negation), so several in one scope count once.
NEGATORS = frozenset(
    # "né" folds to "ne", which is far more often the clitic ("ne ho parlato"): left out on purpose.
    {
        "non",
        "mai",
        "nessuno",
        "nessuna",
        "nessun",
        "niente",
        "nulla",
        "senza",
        "neanche",
        "nemmeno",
        "neppure",
        "mica",
        "manco",
        "nn",
        "no",
    }
)

#: Tokens skipped when looking back from a sentiment word for a negator or a booster
#: ("non mi è mai stato utile"): clitics, auxiliaries, articles.
TRANSPARENT = frozenset(
    {
        "mi",
        "ti",
        "ci",
        "vi",
        "si",
        "lo",
        "la",
        "li",
        "le",
        "gli",
        "ne",
        "e",
        "sono",
        "sei",
        "siamo",
        "siete",
        "era",
        "erano",
        "stato",
        "stata",
        "stati",
        "state",
        "essere",
        "ha",
        "hanno",
        "ho",
        "hai",
        "abbiamo",
        "avete",
        "avuto",
        "piu",
        "per",
        "niente",
        "affatto",
        "un",
        "uno",
        "una",
        "il",
        "l",
        "i",
        "gia",
        "ancora",
        "cosi",
        "sembra",
        "sembrano",
        "risulta",
        "risultano",
        "e'",
        "c",
        "proprio",
        "tanto",
        "poi",
    }
)

#: Intensifiers and their increment (VADER's B_INCR is 0.293).
BOOSTERS = {
    "molto": 0.293,
    "troppo": 0.293,
    "davvero": 0.293,
    "veramente": 0.293,
    "proprio": 0.2,
    "tanto": 0.2,
    "tantissimo": 0.4,
    "assolutamente": 0.35,
    "estremamente": 0.4,
    "super": 0.3,
    "cosi": 0.2,
    "decisamente": 0.3,
    "particolarmente": 0.25,
    "incredibilmente": 0.4,
    "totalmente": 0.35,
    "completamente": 0.35,
    "parecchio": 0.25,
    "tremendamente": 0.4,
    "terribilmente": 0.4,
    "altamente": 0.3,
    "enormemente": 0.35,
    "sempre": 0.15,
    "ancora": 0.1,
    "ultra": 0.3,
    "iper": 0.3,
    "mega": 0.3,
    "sul serio": 0.3,
    "del tutto": 0.35,
}

#: Dampeners and their (negative) increment (VADER's B_DECR is -0.293).
DAMPENERS = {
    "abbastanza": -0.2,
    "piuttosto": -0.2,
    "leggermente": -0.3,
    "quasi": -0.3,
    "relativamente": -0.25,
    "alquanto": -0.2,
    "vagamente": -0.3,
    "un po": -0.3,
    "un poco": -0.3,
    "appena": -0.2,
    "mediamente": -0.25,
}

#: "poco" before a positive word means its opposite ("poco chiaro" = unclear), not a weaker version.
POCO = frozenset({"poco", "poca", "pochi", "poche", "scarsamente"})

#: Contrast: the clause after weighs more (VADER weighs 'but' 0.5 before / 1.5 after).
CONTRAST_AFTER = frozenset({"ma", "pero", "tuttavia", "eppure", "invece"})

#: Concession: the clause *before* weighs more ("ottimo, anche se lento" is praise).
CONCESSIVE = ("anche se", "nonostante", "sebbene", "benche", "seppure")

#: Idioms whose valence the rules cannot derive from their words (checked on folded text).
IDIOMS = {
    "mai piu": -2.2,
    "mai una volta": -1.8,
    "ancora una volta": -0.8,
    "per l ennesima volta": -1.6,
    "l ennesima volta": -1.4,
    "ennesima": -1.2,
    "ennesimo": -1.2,
    "da mesi": -0.9,
    "da settimane": -0.8,
    "da giorni": -0.6,
    "da ore": -0.7,
    "nessuna risposta": -1.9,
    "nessuno risponde": -1.9,
    "non risponde nessuno": -1.9,
    "non funziona": -1.9,
    "non funzionano": -1.9,
    "non va": -1.2,
    "non si puo": -1.2,
    "non e possibile": -1.6,
    "non e normale": -1.8,
    "come al solito": -1.0,
    "al solito": -0.8,
    "tutto ok": 1.4,
    "tutto a posto": 1.6,
    "tutto risolto": 2.2,
    "niente da dire": 1.5,
    "senza problemi": 1.8,
    "senza intoppi": 1.8,
    "nessun problema": 1.8,
    "ci mancava": -1.5,
    "e una vergogna": -2.6,
    "alla faccia": -1.6,
    "roba da matti": -2.0,
    "roba da pazzi": -2.0,
    "ma dai": -0.6,
    "ma per favore": -1.4,
    "ma va": -0.8,
    "sono stufo": -2.1,
    "sono stufa": -2.1,
    "siamo stufi": -2.1,
    "non ne posso piu": -2.4,
    "non se ne puo piu": -2.4,
    "buco nell acqua": -1.5,
    "purtroppo": -1.1,
    "peccato": -1.0,
}

#: "3 ore di fila", "da 2 mesi", "dopo 40 minuti": waiting told in numbers is a complaint.
TIME_COMPLAINT = (
    r"\b(?:da|dopo|oltre|piu di|ormai|sono|ben)?\s*\d+\s*(?:ore|ora|mesi|mese|giorni|settimane|anni|minuti|min|h)\b"
)
TIME_COMPLAINT_VALENCE = -1.2
#: Idioms that already contain their negation: the negation rule must not flip them again.
NEGATED_IDIOMS = frozenset(k for k in IDIOMS if any(w in NEGATORS for w in k.split()))

#: Praise that turns sarcastic next to a complaint: "bravi, 3 ore di fila 👏", "complimenti per l'efficienza...".
SARCASM_PRONE = frozenset(
    {
        "bravi",
        "brava",
        "bravo",
        "bravissimi",
        "complimenti",
        "grazie",
        "efficienza",
        "efficienti",
        "efficiente",
        "ottimo",
        "ottima",
        "ottimi",
        "ottime",
        "bello",
        "bella",
        "bellissimo",
        "geniale",
        "geniali",
        "evviva",
        "perfetto",
        "perfetta",
        "fantastico",
        "fantastica",
        "meraviglioso",
        "meravigliosa",
        "puntualissimi",
        "puntuali",
        "puntuale",
        "velocissimi",
        "top",
        "ottimo lavoro",
        "che efficienza",
        "grande",
        "grandi",
    }
)

#: Markers of irony in a post: with a complaint in the same post, sarcasm-prone praise flips.
IRONY_MARKERS = ("come no", "certo certo", "ma certo", "si certo", "grazie tante", "grazie eh", "bravi eh")
IRONY_EMOJI = frozenset({"🙄", "🤡", "👏", "🤦", "🤦‍♂️", "🤦‍♀️", "😒", "🙃"})

#: Emoji VADER's description lexicon leaves at zero ("pouting face") but that carry a clear
#: stance in complaints and thanks; VADER's own score is used for every other emoji.
EMOJI_EXTRA = {
    "😡": -2.2, "🤬": -2.6, "😠": -1.9, "😤": -1.5, "👎": -1.8, "🙄": -1.1, "💩": -2.0, "🤮": -2.4,
    "🤢": -1.8, "🤦": -1.3, "😒": -1.2, "😞": -1.5, "😩": -1.6, "😫": -1.6, "😖": -1.4, "😣": -1.2,
    "🤡": -1.6, "🐌": -0.8, "⏳": -0.4, "😱": -1.2, "👍": 1.6, "🙏": 1.2, "💪": 1.2, "🔝": 1.8,
    "🥰": 2.4, "😊": 1.8, "🙂": 1.0, "✅": 0.8, "🎉": 1.8, "👌": 1.5,
}  # fmt: skip
