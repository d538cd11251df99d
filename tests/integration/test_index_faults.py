"""Elasticsearch refusing writes or losing the alias, and replays of posts without a time, on the
real stack: the worker holds what it cannot write, puts the alias back, and indexes every post once."""

from __future__ import annotations

import asyncio
from typing import Any

from ascolto.metrics_reading import metric_total
from ascolto.testing import LocalPipeline, make_post, wait_for
from elastic.client import async_es_client
from elastic.lifecycle import PostsIndex
from schemas import now_rfc3339


def per_index(p: LocalPipeline) -> dict[str, int]:
    rows: list[dict[str, Any]] = p.es.cat.indices(index=f"{p.settings.es_index}-*", format="json").body
    return {r["index"]: int(r["docs.count"]) for r in rows}


def aliased(p: LocalPipeline) -> dict[str, bool]:
    """Backing index → whether it is the alias's write index."""
    resp = p.es.indices.get_alias(name=p.settings.es_index)
    return {name: bool(spec["aliases"][p.settings.es_index].get("is_write_index")) for name, spec in resp.items()}


def posts(prefix: str, n: int) -> list[Any]:
    return [make_post(f"{prefix} post number {i}", native_id=f"{prefix}-{i}") for i in range(n)]


def test_write_block_lost_alias_and_deleted_index_lose_nothing_and_keep_the_worker_running(pipeline):
    alias = pipeline.settings.es_index
    port = pipeline.settings.metrics_port
    pipeline.start_worker()
    pipeline.publish(posts("first", 10))
    pipeline.wait_count(10)
    [write] = aliased(pipeline)

    # A write block (what an operator or a full disk sets): held, not dead-lettered, and said.
    pipeline.es.indices.put_settings(index=write, settings={"index.blocks.write": True})
    try:
        pipeline.publish(posts("blocked", 5))
        wait_for(
            lambda: metric_total(port, "ascolto_index_retries_total", reason="forbidden") >= 2,
            timeout=120,
            what="the index sink holding the blocked batch",
        )
        assert pipeline.count() == 10
        assert "index.blocks.write" in pipeline.log_tail(20_000)
    finally:
        pipeline.es.indices.put_settings(index=write, settings={"index.blocks.write": None})
    pipeline.wait_count(15)

    # Someone deletes the alias: the worker puts it back on the index left, and goes on.
    pipeline.es.indices.delete_alias(index=write, name=alias)
    pipeline.publish(posts("no-alias", 5))
    pipeline.wait_count(20)
    assert aliased(pipeline) == {write: True}
    assert "bootstrapping it again" in pipeline.log_tail(20_000)

    # Someone deletes the index itself (its posts go with it): the next posts get a new one.
    pipeline.es.indices.delete(index=write)
    pipeline.publish(posts("no-index", 5))
    pipeline.wait_count(5)
    assert list(aliased(pipeline).values()) == [True]
    pipeline.assert_worker_alive()
    assert pipeline.read_dead_letters(0, timeout=10) == []


def test_replays_of_posts_without_a_time_stay_in_their_first_index_after_a_rollover(pipeline):
    alias = pipeline.settings.es_index
    pipeline.start_worker()
    first = posts("untimed", 20)
    assert all(p["created_at_inferred"] for p in first)  # make_post builds them as a connector does
    pipeline.publish(first)
    pipeline.wait_count(20)
    first_times = {p["id"]: p["created_at"] for p in first}
    assert "rolled over" in pipeline.cli("index", "rollover", "--force").stderr

    # The same posts from the source again (a file replayed, the generator re-run with its seed):
    # made anew, they get a new "now", later than the rollover.
    replay_from = now_rfc3339()
    again = posts("untimed", 20)
    assert all(a["created_at"] > first_times[a["id"]] for a in again)
    pipeline.publish(again)
    pipeline.wait_count(20, {"range": {"indexed_at": {"gt": replay_from}}})
    assert per_index(pipeline) == {f"{alias}-000001": 20, f"{alias}-000002": 0}
    hits = pipeline.es.search(index=alias, size=50, source_includes=["created_at"])["hits"]["hits"]
    assert {h["_id"]: h["_source"]["created_at"] for h in hits} == first_times  # when ascolto first heard of them

    fresh = posts("fresh", 3)  # new posts go to the new index, as before
    pipeline.publish(fresh)
    pipeline.wait_count(23)
    assert per_index(pipeline) == {f"{alias}-000001": 20, f"{alias}-000002": 3}


def test_bootstrap_puts_a_lost_alias_back_on_every_backing_index_left(tmp_path):
    with LocalPipeline(tmp_path) as p:
        alias = p.settings.es_index

        async def bootstrap(then: str | None = None) -> str:
            client = async_es_client(p.settings)
            try:
                posts = PostsIndex(client, p.settings)
                await posts.bootstrap()
                if then == "rollover":
                    await posts.rollover(force=True)
                return posts.write_index.name
            finally:
                await client.close()

        asyncio.run(bootstrap("rollover"))
        assert aliased(p) == {f"{alias}-000001": False, f"{alias}-000002": True}

        p.es.indices.delete_alias(index=f"{alias}-*", name=alias)
        assert asyncio.run(bootstrap()) == f"{alias}-000002"
        assert aliased(p) == {f"{alias}-000001": False, f"{alias}-000002": True}

        # The write index deleted: the alias is left on the older index, with no write index.
        p.es.indices.delete(index=f"{alias}-000002")
        assert asyncio.run(bootstrap()) == f"{alias}-000001"
        assert aliased(p) == {f"{alias}-000001": True}
        assert asyncio.run(bootstrap("rollover")) == f"{alias}-000002"  # rollover works again
