"""A plugin that fails on "fragile" posts until a fix is deployed (a flag file appears), so a test
can dead-letter posts, fix the cause and replay them."""

import os
from pathlib import Path

from streams.enrichers import enricher

#: Environment variable naming the flag file; while it does not exist, fragile posts fail.
FLAG_ENV = "DLQ_TEST_FIXED_FLAG"


@enricher("fixable", writes=("fixable_ok",), order=70)
def fixable(post):
    if "fragile" in post["text"] and not Path(os.environ[FLAG_ENV]).exists():
        raise RuntimeError("cannot handle fragile posts yet")
    return {"fixable_ok": True}
