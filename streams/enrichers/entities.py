"""Where a post gets its entities: hashtags, mentions and URLs found in the text."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ascolto.schemas.types import Entities
from ascolto.streams.enrichers.base import enricher

_HASHTAG = re.compile(r"(?<![\w#])#(\w{1,100})")
_MENTION = re.compile(r"(?<![\w@])@(\w(?:[\w.]{0,62}\w)?(?:@[\w.-]+\.\w+)?)")
_URL = re.compile(r"https?://[^\s<>\"')\]]+")


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


@enricher("entities", writes=("entities",), order=40)
def entities(post: dict[str, Any]) -> dict[str, Entities]:
    text = post["text"]
    urls = _unique(m.rstrip(".,;:!?") for m in _URL.findall(text))
    without_urls = _URL.sub(" ", text)
    return {
        "entities": {
            "hashtags": _unique([h.lower() for h in _HASHTAG.findall(without_urls)]),
            "mentions": _unique([m.lower() for m in _MENTION.findall(without_urls)]),
            "urls": urls,
            "emoji": [],
            "watch_terms": [],
        }
    }
