"""A plugin that fails on some posts, to show the worker dead-letters them and carries on."""

from streams.enrichers import enricher


@enricher("flaky", writes=("flaky_ok",), order=70)
def flaky(post):
    if "boom" in post["text"]:
        raise RuntimeError("cannot handle boom")
    return {"flaky_ok": True}
