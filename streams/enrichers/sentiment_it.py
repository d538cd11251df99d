"""ascolto's Italian sentiment scorer (model ``ascolto-it-1``): VADER's method, Italian rules.

Each word or phrase found in the lexicon (``data/lexicon_it.tsv``, written for ascolto) carries a
valence from -4 to +4. The rules then adjust it as Italian needs:

* negation (*non, mai, nessuno, niente, senza…*) within the clause, with negative concord
  (*non risponde nessuno* negates once) and clitics and auxiliaries skipped (*non mi è mai piaciuto*);
* boosters before or after (*molto, troppo, davvero… / pessimo davvero*), dampeners
  (*abbastanza, un po'*), and *poco* reversing a positive word (*poco chiaro*);
* contrast (*ma, però, tuttavia*: the clause after weighs more) and concession (*anche se,
  nonostante*: the conceded clause weighs less);
* CAPITALS, elongated words (*bellissimooo*), exclamation and question marks (VADER's amounts);
* emoji and emoticons scored as VADER scores them, reusing its emoji descriptions and lexicon,
  plus a few angry or approving emoji VADER leaves at zero (😡 🤬 👎 👍 🙏);
* sarcasm: praise such as *bravi, complimenti, che efficienza* flips when the same post complains
  and carries an irony cue (🙄 👏, *come no*, an ellipsis) or when the praise is one of the
  habitually sarcastic ones next to a complaint;
* waiting told in numbers (*3 ore di fila, da 2 mesi*) counts as a complaint.

The final aggregation (compound, pos, neu, neg) is VADER's own code, so the numbers mean the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from vaderSentiment.vaderSentiment import B_INCR, C_INCR, N_SCALAR, SentimentIntensityAnalyzer

from ascolto.streams.enrichers import sentiment_it_rules as R
from ascolto.streams.enrichers.text import fold, squeeze_repeats

MODEL = "ascolto-it-1"

_WORD = re.compile(r"\w+")
_CLAUSE_END = re.compile(r"[.,;:!?]$")
_SENTENCE_END = re.compile(r"[.!?]$")
_TIME_COMPLAINT = re.compile(R.TIME_COMPLAINT)
_BOOST_DISTANCE = (1.0, 0.95, 0.9)


@dataclass(slots=True)
class _Token:
    raw: str
    word: str
    clause: int
    sentence: int
    elongated: bool = False


@dataclass(slots=True)
class _Item:
    start: int
    end: int
    valence: float
    negation_inside: bool = False


def load_lexicon(path: Path | None = None) -> dict[str, float]:
    """Folded form (word or space-separated phrase) → valence, from the TSV lexicon."""
    text = (
        path.read_text(encoding="utf-8")
        if path
        else resources.files("ascolto.streams.enrichers").joinpath("data/lexicon_it.tsv").read_text("utf-8")
    )
    lexicon: dict[str, float] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            valence_text, forms = line.split("\t", 1)
            valence = float(valence_text)
        except ValueError:
            raise ValueError(
                f"lexicon line {lineno}: expected '<valence>\\t<form>|<form>', got {line[:60]!r}"
            ) from None
        for form in forms.split("|"):
            key = " ".join(_WORD.findall(fold(form)))
            if key:
                lexicon[key] = valence
    return lexicon


class ItalianSentiment:
    """Scores Italian text; :meth:`polarity_scores` returns VADER's shape."""

    model = MODEL

    def __init__(
        self, lexicon: dict[str, float] | None = None, vader: SentimentIntensityAnalyzer | None = None
    ) -> None:
        entries = dict(lexicon if lexicon is not None else load_lexicon())
        entries.update(R.IDIOMS)  # idioms encode what the rules cannot derive: they win
        self.words = {k: v for k, v in entries.items() if " " not in k}
        self.phrases = {k: v for k, v in entries.items() if " " in k}
        self.phrase_heads = {k.split(" ", 1)[0] for k in self.phrases}
        self.max_phrase = max((k.count(" ") + 1 for k in self.phrases), default=1)
        self.vader = vader or SentimentIntensityAnalyzer()
        # VADER scores an emoji by the lexicon words of its description ("pouting face"): do the same.
        self.emoji = {}
        for char, description in self.vader.emojis.items():
            valence = sum(self.vader.lexicon.get(w, 0.0) for w in description.lower().split())
            if valence:
                self.emoji[char] = valence
        self.emoji.update(R.EMOJI_EXTRA)
        singles = sorted((e for e in self.emoji if len(e) == 1), key=len, reverse=True)
        self._emoji_re = re.compile("[" + "".join(re.escape(e) for e in singles) + "]")
        self.emoticons = {k: v for k, v in self.vader.lexicon.items() if not k.isalpha() and not k.isalnum()}

    # --- public -------------------------------------------------------------------------------
    def polarity_scores(self, text: str) -> dict[str, float]:
        """``{'neg', 'neu', 'pos', 'compound'}`` as VADER computes them, from Italian rules."""
        emoji_found = self._emoji_re.findall(text)
        plain = self._emoji_re.sub(" ", text) if emoji_found else text
        tokens, extra = self._tokenize(plain)
        items = self._match(tokens)
        all_caps = self._all_caps(tokens)
        folded_text = " ".join(t.word for t in tokens)
        for item in items:
            self._adjust(item, tokens, all_caps)
        self._weigh_contrast(items, tokens)
        self._sarcasm(items, tokens, folded_text, emoji_found, plain)
        sentiments = [0.0] * len(tokens)
        for item in items:
            sentiments[item.start] = item.valence
            for k in range(item.start + 1, item.end + 1):
                sentiments[k] = None  # type: ignore[call-overload]  # covered by the phrase
        scores = [s for s in sentiments if s is not None]
        scores.extend(extra)
        scores.extend(self.emoji[e] for e in emoji_found)
        scores.extend(R.TIME_COMPLAINT_VALENCE for _ in _TIME_COMPLAINT.finditer(folded_text))
        return self.vader.score_valence(scores, text)

    # --- steps --------------------------------------------------------------------------------
    def _tokenize(self, text: str) -> tuple[list[_Token], list[float]]:
        tokens: list[_Token] = []
        emoticon_scores: list[float] = []
        clause = sentence = 0
        for chunk in text.split():
            emoticon = self.emoticons.get(chunk) or self.emoticons.get(chunk.lower())
            if emoticon is not None and not chunk.isalnum():
                emoticon_scores.append(emoticon)
                continue
            for piece in _WORD.findall(chunk):
                word = fold(piece)
                elongated = False
                if word not in self.words and word not in self.phrase_heads:
                    plain_word = _unelongate(word, self.words)
                    elongated, word = plain_word != word, plain_word
                tokens.append(_Token(piece, word, clause, sentence, elongated))
            if _CLAUSE_END.search(chunk):
                clause += 1
                if _SENTENCE_END.search(chunk):
                    sentence += 1
        return tokens, emoticon_scores

    def _match(self, tokens: list[_Token]) -> list[_Item]:
        items: list[_Item] = []
        words = [t.word for t in tokens]
        i, n = 0, len(words)
        while i < n:
            word = words[i]
            if word in self.phrase_heads:
                for length in range(min(self.max_phrase, n - i), 1, -1):
                    key = " ".join(words[i : i + length])
                    valence = self.phrases.get(key)
                    if valence is not None:
                        inside = key in R.NEGATED_IDIOMS
                        items.append(_Item(i, i + length - 1, valence, inside))
                        i += length
                        break
                else:
                    valence = self.words.get(word)
                    if valence is not None:
                        items.append(_Item(i, i, valence))
                    i += 1
                continue
            valence = self.words.get(word)
            if valence is not None:
                items.append(_Item(i, i, valence))
            i += 1
        return items

    @staticmethod
    def _all_caps(tokens: list[_Token]) -> bool:
        letters = [t.raw for t in tokens if t.raw.isalpha()]
        return bool(letters) and all(w.isupper() for w in letters)

    def _adjust(self, item: _Item, tokens: list[_Token], all_caps: bool) -> None:
        v = item.valence
        sign = 1.0 if v > 0 else -1.0
        first = tokens[item.start]
        if not all_caps and first.raw.isupper() and len(first.raw) > 1:
            v += sign * C_INCR
        if first.elongated:
            v += sign * B_INCR
        clause = first.clause
        # Boosters, dampeners and "poco" right before (VADER looks three words back).
        distance = 0
        j = item.start - 1
        while j >= 0 and distance < 3 and tokens[j].clause == clause:
            word = tokens[j].word
            pair = f"{tokens[j - 1].word} {word}" if j > 0 else ""
            scale = _BOOST_DISTANCE[distance]
            if pair in R.BOOSTERS or pair in R.DAMPENERS:
                v += sign * R.BOOSTERS.get(pair, R.DAMPENERS.get(pair, 0.0)) * scale
            elif word in R.BOOSTERS:
                v += sign * R.BOOSTERS[word] * scale
            elif word in R.DAMPENERS:
                v += sign * R.DAMPENERS[word] * scale
            elif word in R.POCO and distance == 0:
                v = -v * 0.6 if v > 0 else v * 0.5
            if word not in R.TRANSPARENT:
                distance += 1
            j -= 1
        nxt = item.end + 1
        if (
            nxt < len(tokens)
            and tokens[nxt].clause == clause
            and tokens[nxt].word in ("davvero", "veramente", "proprio")
        ):
            v += sign * 0.2
        if not item.negation_inside and self._negated(item.start, tokens, clause):
            v *= N_SCALAR
        item.valence = v

    @staticmethod
    def _negated(start: int, tokens: list[_Token], clause: int) -> bool:
        counted = 0
        j = start - 1
        while j >= 0 and counted < 3 and tokens[j].clause == clause:
            word = tokens[j].word
            if word in R.NEGATORS:
                return True
            if word in R.CONTRAST_AFTER:
                return False
            if word not in R.TRANSPARENT and word not in R.BOOSTERS and word not in R.POCO:
                counted += 1
            j -= 1
        return False

    @staticmethod
    def _weigh_contrast(items: list[_Item], tokens: list[_Token]) -> None:
        # The last "ma/però" of a sentence splits it: 0.5 before, 1.5 after (VADER's 'but' rule).
        last_contrast: dict[int, int] = {}
        conceded_clauses: set[int] = set()
        words = [t.word for t in tokens]
        for i, tok in enumerate(tokens):
            if tok.word in R.CONTRAST_AFTER and i > 0:
                last_contrast[tok.sentence] = i
            pair = f"{tok.word} {words[i + 1]}" if i + 1 < len(words) else ""
            if tok.word in R.CONCESSIVE or pair in R.CONCESSIVE:
                conceded_clauses.add(tok.clause)
        for item in items:
            tok = tokens[item.start]
            pivot = last_contrast.get(tok.sentence)
            if pivot is not None:
                item.valence *= 0.5 if item.start < pivot else 1.5
            if tok.clause in conceded_clauses:
                item.valence *= 0.5

    @staticmethod
    def _sarcasm(items: list[_Item], tokens: list[_Token], folded: str, emoji: list[str], text: str) -> None:
        praise = [it for it in items if it.valence > 0 and _span(tokens, it) in R.SARCASM_PRONE]
        if not praise:
            return
        complaint = any(it.valence <= -1.0 for it in items) or bool(_TIME_COMPLAINT.search(folded))
        if not complaint:
            return
        cue = (
            any(e in R.IRONY_EMOJI for e in emoji)
            or any(m in folded for m in R.IRONY_MARKERS)
            or "..." in text
            or "…" in text
            or any(
                _span(tokens, it) in ("complimenti", "bravi", "bravissimi", "evviva", "che efficienza") for it in praise
            )
        )
        if cue:
            for it in praise:
                it.valence = -abs(it.valence) * 0.8


def _span(tokens: list[_Token], item: _Item) -> str:
    return " ".join(t.word for t in tokens[item.start : item.end + 1])


def _unelongate(word: str, lexicon: dict[str, float]) -> str:
    """'bellissimooo' → 'bellissimo', 'graziee' → 'grazie' when that is a known word."""
    squeezed = squeeze_repeats(word)
    if squeezed in lexicon:
        return squeezed
    if len(word) > 3 and word[-1] == word[-2] and word[:-1] in lexicon:
        return word[:-1]
    return word
