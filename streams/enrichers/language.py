"""Where a post gets its language (``lang``).

This first version trusts the source's ``lang_hint`` and says ``und`` otherwise.
"""

from __future__ import annotations

import re
from typing import Any

from ascolto.streams.enrichers.base import enricher

_ISO_639 = re.compile(r"^[a-z]{2,3}$")


@enricher("language", writes=("lang",), order=10)
def language(post: dict[str, Any]) -> dict[str, str]:
    hint = (post.get("lang_hint") or "").lower()
    return {"lang": hint if _ISO_639.match(hint) else "und"}
