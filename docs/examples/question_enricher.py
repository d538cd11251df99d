"""Worked example for docs/enrichers.md: flag posts that ask something a care team should answer.

Run it in the worker with
    ASCOLTO_ENRICHERS=language,sentiment,topics,entities,duplicates,question_enricher:question
(with this folder on PYTHONPATH), or install it as a plugin through the ``ascolto.enrichers``
entry-point group.
"""

from __future__ import annotations

import re
from typing import Any

from streams.enrichers import enricher
from streams.enrichers.text import fold

# Question words at the start of a sentence, in Italian and English (folded: no accents).
_ASKS = re.compile(
    r"(?:^|[.!?]\s+)(?:come|quando|perche|dove|chi|quanto|quanti|qualcuno sa|potete|posso|"
    r"how|when|why|where|who|can|could|does|do|is|are)\b"
)


@enricher("question", writes=("asks_question",), order=50)
def question(post: dict[str, Any]) -> dict[str, bool]:
    """True for a question mark or a sentence opening with a question word."""
    text = post["text"]
    return {"asks_question": "?" in text or bool(_ASKS.search(fold(text)))}
