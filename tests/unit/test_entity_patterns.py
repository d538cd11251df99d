"""The hashtag and mention patterns, with their look-behind after the '#' or '@' (for speed), find
what the first ones, with it before, found: at the start, after words, '#', '@', dots and accents."""

import random
import re

from streams.enrichers.entities import _HASHTAG, _MENTION

FIRST_HASHTAG = re.compile(r"(?<![\w#])#(\w{1,100})")
FIRST_MENTION = re.compile(r"(?<![\w@])@(\w(?:[\w.]{0,62}\w)?(?:@[\w.-]+\.\w+)?)")
PIECES = ["#", "@", "##", "@@", "#@", "@#", "a", "È", "città", "_", "1", ".", "-", " ", "\n", "é", "😂", "x" * 70]


def test_hashtags_and_mentions_are_those_the_first_patterns_found():
    rng = random.Random(3)
    texts = ["".join(rng.choice(PIECES) for _ in range(rng.randint(0, 15))) for _ in range(20000)]
    assert [t for t in texts if _HASHTAG.findall(t) != FIRST_HASHTAG.findall(t)] == []
    assert [t for t in texts if _MENTION.findall(t) != FIRST_MENTION.findall(t)] == []
    assert _HASHTAG.findall("#a b#c ##d #e#f") == ["a", "e"]
    assert _MENTION.findall("@a x@b @@c @d.e. @f@mastodon.social") == ["a", "d.e", "f@mastodon.social"]
