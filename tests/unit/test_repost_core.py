"""The repost key's fast paths give the digests of its first, plain formulation, on texts chosen to
catch where they could part: URLs and mentions touching each other, 'RT' forms, hashtags inside
words, accents and characters that case folding changes."""

import hashlib
import random
import re

from streams.enrichers.duplicates import MIN_CHARS, repost_core, repost_key, without_noise
from streams.enrichers.text import normalise

# The first formulation: one left-to-right scan, then match_text's words joined.
_NOISE = re.compile(r"https?://\S+|(?<!\w)@\w[\w.]*|^\s*rt\b:?", re.IGNORECASE)

PIECES = [
    "http://x.it/a", "HTTPS://t.co/AbC.", "hTtP://a.b/?u=@foo&y=z", "httpſ://x", "http://", "x.it/http://y",
    "@tizio", "@tizio.rossi", "@a.b.", "@user@mastodon.social", "@", "@@x", "a@b.com", "@foohttp://x",
    "@İstanbul", "@a\u0301b", "RT", "rt:", "Rt", "rtx", "ʀᴛ", "#tag", "##x", "#", "a#b", "x#", "#à", "#a#b",
    "#@x", "@#x", "perché", "CITTÀ", "È", "ß", "ﬁ", "İ", "Σ", "a\u0301", "\u0301", "😂", "👍🏽", "…",
    "treno", "soppresso", "ancora", "una", "volta", "123", "²", "_",
]  # fmt: skip
SEPARATORS = ["", "", " ", "  ", "\n", "\t", ",", ".", ":", "/", "'", "\u00a0", "\u3000"]


def _texts(count: int) -> list[str]:
    rng = random.Random(5)
    texts = []
    for _ in range(count):
        text = "".join(rng.choice(PIECES) + rng.choice(SEPARATORS) for _ in range(rng.randint(0, 12)))
        texts.append(rng.choice(["", "", "RT ", "rt:", " RT @x: ", "RT@x ", "\trt", "rT:@x"]) + text)
    return [*texts, "", " ", "rt", "RT:", "rt@foo bar", "rt:@foo bar", "#", "@"]


def _first_formulation(text: str) -> tuple[str, bytes, str | None]:
    stripped = _NOISE.sub(" ", text)
    core = "".join(normalise(stripped).replace("#", "").split()).encode("utf-8")
    key = hashlib.blake2b(core, digest_size=12).hexdigest() if len(core.decode()) >= MIN_CHARS else None
    return stripped, core, key


def test_fast_paths_match_the_first_formulation():
    texts = _texts(5000)
    parted = [t for t in texts if (without_noise(t), repost_core(t), repost_key(t)) != _first_formulation(t)]
    assert parted == []


def test_the_shortest_key_counts_characters_not_bytes():
    assert repost_key("ß" * (MIN_CHARS - 1)) is None  # 22 bytes, 11 characters
    assert repost_key("ß" * MIN_CHARS) is not None
