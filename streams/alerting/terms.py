"""The terms an alert lists as "top terms": a post's hashtags, watch terms and content words.

Content words are cheap on purpose (this runs for every post a rule counts): lower-case letter runs
of four or more, minus a short list of Italian and English function words, at most
:data:`MAX_WORDS` per post from its first :data:`READ_CHARS` characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

READ_CHARS = 1000
MAX_WORDS = 12
_WORD = re.compile(r"[^\W\d_]{4,}")
_STOP = frozenset(
    """
    about after again also been before being below between both could does doing down during each from further
    have having here into itself just more most much only other over same should some such than that their them
    then there these they this those through under until very what when where which while will with would your
    yours ours what's isn't don't cannot
    alla alle allo anche ancora avere aveva come con cosa cose dalla dalle dallo degli della delle dello dopo dove
    essere fare fino hanno loro molto nella nelle nello nostro ogni oggi perché però poco poi prima quale quando
    quanto quella quelle quello questa queste questi questo sono stato stata sempre senza solo sulla sulle sullo
    tutti tutto tutta tutte uno una vostro essere fatto fosse siamo siete ecco così qui già mai più
    """.split()
)


def terms_of(post: Mapping[str, Any]) -> tuple[str, ...]:
    """``#hashtags``, watch terms, then content words of an EnrichedPost v1, each once."""
    entities = post.get("entities") or {}
    seen: dict[str, None] = {}
    for tag in entities.get("hashtags") or ():
        seen.setdefault(f"#{tag}", None)
    for term in entities.get("watch_terms") or ():
        seen.setdefault(str(term), None)
    text = post.get("text")
    words = 0
    if isinstance(text, str):
        for match in _WORD.finditer(text[:READ_CHARS].lower()):
            word = match.group()
            if word not in _STOP and word not in seen and f"#{word}" not in seen:
                seen[word] = None
                words += 1
                if words >= MAX_WORDS:
                    break
    return tuple(seen)
