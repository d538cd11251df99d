"""Where a post gets its language (``lang``): ISO 639-1, or ``und`` when unsure.

Two steps, both offline. First a cheap vote of Italian and English function words, which
settles most posts our users see in microseconds; then, when that vote is not clear, py3langid
(a model shipped inside the package) restricted to the configured candidate languages, trusted
only above a probability threshold. A source's ``lang_hint`` is used unless the text clearly
says otherwise: at least :data:`OVERRIDE_WORDS` distinct function words of another language,
twice as many as of the hinted one. The vote counts distinct words, so a repeated word is one
piece of evidence ("HA HA HA HA" is not five Italian verbs). The model reads a post's first
:data:`MODEL_WORDS` words, which settle its language long before; the vote reads all of them
(it is linear and cheap).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from core.settings import Settings, get_settings
from streams.enrichers.base import enricher
from streams.enrichers.text import folded_letter_words

_ISO_639 = re.compile(r"^[a-z]{2,3}$")
# URLs, hashtags and mentions: r"https?://\S+|[@#]\w+". Written to start with one character class,
# which the regular expression engine scans for at C speed; a third less time than the plain form.
_NOISE = re.compile(r"[h@#](?:(?<=h)ttps?://\S+|(?<=[@#])\w+)")
MODEL_WORDS = 1000  # bounds the model's time: 0.7 s on a 100,000-character post read whole
#: Distinct function words a vote needs to settle a post with no hint, and to override a hint.
VOTE_WORDS = 2
OVERRIDE_WORDS = 3

# Function words that exist in one language only (ambiguous ones such as "a", "in", "come",
# "per", "no" are left out). Folded: no accents.
ITALIAN_WORDS = frozenset(
    "il lo la gli le di del dello della dei degli delle che non sono ho hai ha abbiamo avete hanno con mi ti ci "
    "si da dal dalla dai nel nello nella nei al allo alla ai questo questa questi quello quella anche ancora "
    "perche piu gia tutto tutti tutte sempre ogni dopo ora oggi ieri domani mai niente nessuno cosa quando "
    "dove chi io voi noi sto sta stato stata essere fare fatto qualcuno grazie buongiorno ciao un una uno "
    "ma se solo poi cosi tra fra ancora ecco cmq nn xke sul sulla degli nelle delle loro suo sua vostro".split()
)
ENGLISH_WORDS = frozenset(
    "the is are was were and to of for on my you your it its this that with not have has had be been at from by "
    "we they our their what why how when where who can cant dont doesnt didnt wont just still again after "
    "today thanks please an or but so if any all there here been being would should could very really "
    "about into than them him her she he me us".split()
)
# Disjoint sets: one intersection with their union finds both languages' words in one pass over a post.
FUNCTION_WORDS = ITALIAN_WORDS | ENGLISH_WORDS


@lru_cache(maxsize=64)
def _is_language_code(hint: str) -> bool:
    # Cached: a source sends the same few hints on every post, and a cache hit costs a fifth of the match.
    return _ISO_639.match(hint) is not None


class LanguageDetector:
    """Detects the language of a text; see the module docstring for the method."""

    def __init__(self, candidates: list[str], threshold: float) -> None:
        self.candidates = candidates
        self.threshold = threshold
        self._identifier: Any = None

    def _model(self) -> Any:
        if self._identifier is None:
            ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            ident.set_languages(self.candidates)
            # The model ships float16; numpy would upcast the rows a post selects on every call
            # (exactly: same scores), a quarter of the call's time.
            ident.nb_ptc = np.ascontiguousarray(ident.nb_ptc, dtype=np.float32)
            self._identifier = ident
        return self._identifier

    def vote(self, words: list[str], at_least: int = VOTE_WORDS) -> str | None:
        """'it' or 'en' when ``at_least`` distinct function words of one language, and twice as many
        as of the other plus one, say so; else None."""
        found = FUNCTION_WORDS.intersection(words)  # distinct, without building a set of all words
        if len(found) < at_least:
            return None
        it = len(ITALIAN_WORDS.intersection(found))
        en = len(found) - it
        if it >= at_least and it >= 2 * en + 1:
            return "it"
        if en >= at_least and en >= 2 * it + 1:
            return "en"
        return None

    def detect(self, text: str, hint: str | None = None) -> str:
        if "@" in text or "#" in text or "://" in text:  # the only texts _NOISE can change
            text = _NOISE.sub(" ", text)
        words = folded_letter_words(text)
        if hint and _is_language_code(hint):
            # The source's word stands unless the text clearly speaks another language.
            voted = self.vote(words, OVERRIDE_WORDS)
            return voted if voted and voted != hint else hint
        voted = self.vote(words)
        if voted:
            return voted
        if len(words) < 2:
            return "und"
        lang, probability = self._model().classify(" ".join(words[:MODEL_WORDS]))
        return lang if probability >= self.threshold else "und"


@enricher("language", writes=("lang",), order=10)
class Language:
    """Sets ``lang``."""

    def __init__(self, settings: Settings | None = None) -> None:
        settings = settings or get_settings()
        self.detector = LanguageDetector(settings.language_list, settings.language_threshold)
        self.trust_hint = settings.trust_lang_hint

    def __call__(self, post: dict[str, Any]) -> dict[str, str]:
        hint = post.get("lang_hint") if self.trust_hint else None
        return {"lang": self.detector.detect(post["text"], hint)}
