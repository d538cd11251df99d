"""The closed word classes of ascolto's Italian sentiment rules (written for ascolto).

The open class, words and phrases with a valence, is ``data/lexicon_it.tsv``. Everything here
is folded (lower case, no accents), as the scorer compares folded tokens.
"""

from __future__ import annotations

from typing import Final

#: Words that negate what follows them in the clause. Italian has negative concord
#: ("non risponde nessuno" is one negation), so several in one scope count once.
NEGATORS: Final = frozenset(
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
TRANSPARENT: Final = frozenset(
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

#: A negated negative word ("non dire stupidaggini", "non ancora nato già morto") keeps a quarter of
#: its valence: it leans to neutral instead of turning into praise as VADER's N_SCALAR (-0.74) would
#: make it. The litotes that do praise ("non è male") are IDIOMS. SENTIPOLC dev set, macro-F1 /
#: official: -0.74 0.5713/0.6781, -0.25 0.5725/0.6794, 0 0.5728/0.6804, 0.25 0.5761/0.6823,
#: 0.5 0.5763/0.6826; a quarter is kept rather than the best figure, to stay near neutral.
NEGATED_NEGATIVE_SCALAR: Final = 0.25

#: Intensifiers and their increment (VADER's B_INCR is 0.293).
BOOSTERS: Final = {
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
DAMPENERS: Final = {
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
POCO: Final = frozenset({"poco", "poca", "pochi", "poche", "scarsamente"})

#: Contrast: the clause after weighs more (VADER weighs 'but' 0.5 before / 1.5 after).
CONTRAST_AFTER: Final = frozenset({"ma", "pero", "tuttavia", "eppure", "invece"})

#: Concession: the clause *before* weighs more ("ottimo, anche se lento" is praise).
CONCESSIVE: Final = ("anche se", "nonostante", "sebbene", "benche", "seppure")

#: Idioms whose valence the rules cannot derive from their words (checked on folded text).
IDIOMS: Final = {
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
    "non male": 1.2,
    "non e male": 1.2,
    "niente male": 1.5,
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

_COUNT = r"(?:\d+|un|una|mezz\w*|due|tre|quattro|cinque|sei|sette|otto|nove|dieci|venti|trenta|quaranta)"
_UNIT = r"(?:ore|ora|mesi|mese|giorni|settimane|settimana|anni|anno|minuti|min|h)"
#: Waiting told in numbers is a complaint: "da 2 mesi", "oltre un'ora", "40 minuti di attesa", "3 ore in fila"
#: (but not "fatto in 5 minuti", which is praise).
TIME_COMPLAINT: Final = (
    rf"\b(?:da|oltre|piu di|ormai|ancora dopo|gia|sono)\s+(?:\w+\s+)?{_COUNT}\s*{_UNIT}\b"
    rf"|\b{_COUNT}\s*{_UNIT}\s+(?:e mezza\s+)?(?:di|in|al|a)\s+(?:attesa|fila|coda|ritardo|telefono|aspettare|linea)\b"
    rf"|\b(?:aspett|attend|attes|ferm|bloccat)\w*\s+(?:\w+\s+){{0,2}}{_COUNT}\s*{_UNIT}\b"
)
TIME_COMPLAINT_VALENCE: Final = -1.2

#: "per la terza volta", "dodicesima volta", "4 viaggi": repetition told in numbers is a complaint.
REPEAT_COMPLAINT: Final = (
    r"\b(?:seconda|terza|quarta|quinta|sesta|settima|ottava|nona|decima|undicesima|dodicesima|ennesima|"
    r"\d+[ao°])\s+volta\b|\b(?:\d+|tre|quattro|cinque|sei|dieci)\s+(?:volte|viaggi|telefonate|chiamate|pec|mail|email|solleciti)\b"
)
REPEAT_COMPLAINT_VALENCE: Final = -1.0

#: Verbs a service is expected to do: negated, they are a complaint ("non risponde", "mai arrivati").
SERVICE_VERB_STEMS: Final = (
    "funzion", "rispond", "rispost", "arriv", "pass", "ricev", "capisc", "capit", "apr", "carica", "trov",
    "accett", "risolv", "risolt", "richiam", "pagat", "rimbors", "conseg", "spieg", "aiut",
)  # fmt: skip
NEGATED_SERVICE_VALENCE: Final = -1.4

#: Rhetorical questions and formulas of complaint (folded).
COMPLAINT_FORMULAS: Final = {
    "ma perche": -1.0, "ma come": -0.8, "ma siete": -1.2, "ma vi sembra": -1.6, "ma scherziamo": -1.8,
    "come e possibile": -1.6, "non vi vergognate": -2.4, "e poi parlate": -1.6, "normale no": -1.6,
    "e adesso": -0.6, "come dovrei fare": -1.2, "come devo fare": -1.2, "a che serve": -1.2,
    "ma basta": -1.6, "sempre peggio": -2.0, "come sempre": -0.6, "si fa per dire": -1.2,
    "mai una risposta": -2.0, "ancora niente": -1.4, "niente di niente": -1.6, "e niente": -0.6,
}  # fmt: skip

#: Openings of a request for information: such a question reports a fact, it does not complain.
INFO_QUESTION_OPENINGS: Final = (
    "come si", "come posso", "come faccio", "quando", "dove", "chi si occupa", "chi sa", "qual", "quale", "quali",
    "quanto", "quanti", "sapete", "qualcuno sa", "qualcuno ha", "scusate", "domanda", "info", "buongiorno",
    "salve", "per caso", "si puo", "e possibile", "posso", "in caso di", "chiedo", "vorrei sapere", "per chi",
    "tt sapete", "ciao", "ragazzi", "raga", "qualcuno",
)  # fmt: skip
#: Tokens after a sarcastic compliment ("bel servizio eh", "grazie Comune eh").
IRONY_TAGS: Final = frozenset({"eh", "ehh", "neh"})
INFO_QUESTION_DAMPING: Final = 0.1

#: Praise that turns sarcastic next to a complaint: "bravi, 3 ore di fila 👏", "complimenti per l'efficienza...".
SARCASM_PRONE: Final = frozenset(
    {"bravi", "brava", "bravo", "bravissimi", "bravissimo", "bravissima", "complimenti", "complimentoni", "grazie",
     "grazie mille", "grazie tante", "efficienza", "efficienti", "efficiente", "ottimo", "ottima", "ottimi",
     "ottime", "bello", "bella", "bel", "bellissimo", "geniale", "geniali", "evviva", "perfetto", "perfetta",
     "fantastico", "fantastica", "fantastici", "fantastiche", "meraviglioso", "meravigliosa", "puntualissimi",
     "puntuali", "puntuale", "velocissimi", "top", "ottimo lavoro", "che efficienza", "grande", "grandi",
     "bel servizio", "che bello", "ben fatto"}
)  # fmt: skip
#: Praise that is sarcastic next to a complaint even without a cue ("Complimenti." after a rant).
HABITUALLY_SARCASTIC: Final = frozenset(
    {"complimenti", "bravi", "bravissimi", "evviva", "che efficienza", "geniali", "geniale", "che bello",
     "bel servizio", "grazie tante", "ottimo lavoro", "fantastico"}
)  # fmt: skip

#: Markers of irony in a post: with a complaint in the same post, sarcasm-prone praise flips.
IRONY_MARKERS: Final = (
    "come no",
    "certo certo",
    "ma certo",
    "ah certo",
    "si certo",
    "grazie tante",
    "si vabbe",
    "ma dai",
    "traduzione",
    "grazie eh",
    "bravi eh",
)
#: Cues strong enough to turn praise sarcastic on their own ("grazie tante", "che bello 🙃").
STRONG_IRONY_MARKERS: Final = ("grazie tante", "come no", "ah certo", "ma certo", "si vabbe", "grazie eh", "bravi eh")
STRONG_IRONY_EMOJI: Final = frozenset({"🙃", "🙄", "🤡"})
IRONY_EMOJI: Final = frozenset({"🙄", "🤡", "👏", "🤦", "🤦‍♂️", "🤦‍♀️", "😒", "🙃", "😂", "🤣"})

#: Lower-case words inside a name: "Ospedale del Buon Consiglio", "Popolo della Libertà".
NAME_LINKS: Final = frozenset({"di", "del", "della", "dello", "dei", "degli", "delle", "d", "da", "dal", "e"})

#: Articles and prepositions that make a following Capitalised run a noun phrase: "la Bella Italia".
NAME_OPENERS: Final = frozenset(
    "il lo la l i gli le un una uno del dello della dell dei degli delle di da dal dallo dalla dall dai "
    "dagli dalle a al allo alla all ai agli alle in nel nello nella nell nei negli nelle su sul sullo "
    "sulla sull sui sugli sulle con per tra fra".split()
)

#: A link shared without a reply or a first person reads as a headline: its words weigh half.
#: SENTIPOLC dev set, macro-F1 / official: none 0.5780 / 0.6831, x0.75 0.5780 / 0.6833,
#: x0.5 0.5785 / 0.6837, x0.25 0.5784 / 0.6835 (also requiring no "!" changed nothing).
HEADLINE_DAMPING: Final = 0.5
#: First-person words: a post that has one speaks for someone, a headline does not.
FIRST_PERSON: Final = frozenset(
    "io mi me mio mia miei mie noi ci ce nostro nostra nostri nostre sono ho ero avevo siamo abbiamo".split()
)

#: Laughter emoji: VADER reads them as joy (😂 +1.9), but under a reply that complains or is
#: ironic they mock ("@x 😂😂 ma chi ti crede"). Written laughter ("ahah", "lol") has no valence at
#: all: on the SENTIPOLC dev set it is friendly chatter as often as joy, and scoring it as joy
#: (+1.5) or as mockery near a complaint made both scores worse.
LAUGHTER_EMOJI: Final = frozenset({"😂", "🤣", "😆", "😅", "😹"})
MOCKING_LAUGHTER_VALENCE: Final = -0.8
#: A word at or below this valence in a reply makes its laughter mocking.
MOCKED_BELOW: Final = -0.5

#: Emoji VADER's description lexicon leaves at zero ("pouting face") but that carry a clear
#: stance in complaints and thanks; VADER's own score is used for every other emoji.
EMOJI_EXTRA: Final = {
    "😡": -2.2, "🤬": -2.6, "😠": -1.9, "😤": -1.5, "👎": -1.8, "🙄": -1.1, "💩": -2.0, "🤮": -2.4,
    "🤢": -1.8, "🤦": -1.3, "😒": -1.2, "😞": -1.5, "😩": -1.6, "😫": -1.6, "😖": -1.4, "😣": -1.2,
    "🤡": -1.6, "🐌": -0.8, "⏳": -0.4, "😱": -1.2, "👍": 1.6, "🙏": 1.2, "💪": 1.2, "🔝": 1.8,
    "🥰": 2.4, "😊": 1.8, "🙂": 1.0, "✅": 0.8, "🎉": 1.8, "👌": 1.5,
    # VADER reads these from words of their names that mislead: "pensive" and "broken heart" came
    # out positive, "smiling face with horns" as a smile, "astonished" as praise, "fire" as harm.
    # Their CLDR meanings (sadness, grief, mischief, surprise, "hot"/excitement) set sign and size.
    "😔": -1.3, "💔": -2.0, "😈": 0.0, "😲": 0.0, "🔥": 0.0, "😪": -0.6, "😥": -0.9,
}  # fmt: skip
