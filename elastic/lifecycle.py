"""The posts index lifecycle: a write alias over rolled-over backing indices, plus retention.

Built only from what both Elastic's test distribution and a full cluster offer (aliases, the
rollover API, index deletion), so it behaves the same everywhere; with ``ASCOLTO_ES_ILM`` a full
cluster's ILM does rollover and deletion instead.

Idempotency across rollovers: a document is not written through the alias (which would send a
replayed post to the *current* write index and duplicate it) but to the backing index whose
time range holds its ``created_at``. Backing index N covers ``[created N, created N+1)``, so a
post always lands in the same index, however often and however late it is replayed.
"""

from __future__ import annotations

import bisect
import logging
import re
import time
from dataclasses import dataclass

from elasticsearch import AsyncElasticsearch, NotFoundError

from core.errors import AscoltoError
from core.settings import Settings
from elastic.templates import (
    detect_analyzers,
    install_alerts_template,
    install_posts_templates,
    render_posts_templates,
)

log = logging.getLogger(__name__)

#: How much the clocks of a worker and Elasticsearch may disagree without misrouting a post.
CLOCK_MARGIN_MS = 10_000


@dataclass(frozen=True)
class BackingIndex:
    name: str
    created_ms: int
    is_write: bool


class PostsIndex:
    """Installs templates, bootstraps the alias, routes documents, rolls over and applies retention."""

    def __init__(self, client: AsyncElasticsearch, settings: Settings) -> None:
        self.client = client
        self.settings = settings
        self.alias = settings.es_index
        self.backing: list[BackingIndex] = []
        self._starts: list[int] = []
        self.fingerprint: dict | None = None
        self.known_until_ms = 0

    # --- start-up ------------------------------------------------------------------------------
    async def bootstrap(self) -> None:
        """Templates (idempotent), the first backing index if none, a rollover if the template changed."""
        analyzers = await detect_analyzers(self.client)
        templates = render_posts_templates(self.settings, analyzers)
        self.fingerprint = templates.fingerprint
        await install_posts_templates(self.client, templates, self.alias)
        await install_alerts_template(self.client, self.settings)
        if not await self.client.indices.exists_alias(name=self.alias):
            if await self.client.indices.exists(index=self.alias):
                raise AscoltoError(
                    f"Elasticsearch has a plain index named {self.alias} (ascolto 0.1 wrote there); the posts now "
                    f"live behind an alias of that name: delete the index (or reindex it into {self.alias}-000001)."
                )
            if not await self._reattach():
                await self._create_first()
        await self.refresh()
        if not self.has_write_index:
            await self._reattach()
            await self.refresh()
        if await self._write_index_fingerprint() != self.fingerprint:
            # A new template (or analyzers) applies only to new indices: roll over instead of breaking writes.
            await self.rollover(force=True)

    async def _create_first(self) -> None:
        first = f"{self.alias}-000001"
        try:
            await self.client.indices.create(index=first, aliases={self.alias: {"is_write_index": True}})
            await self._wait_started(first)
            log.info("created %s behind the write alias %s", first, self.alias)
        except Exception as exc:  # another worker created it first
            if "resource_already_exists_exception" not in str(exc):
                raise

    async def _reattach(self) -> bool:
        """Put the alias back on the backing indices left without it; False when there are none.

        Someone deleted the alias, or the write index with it (Elasticsearch then re-creates an
        index a bulk request names, without the alias): the posts in those indices must stay
        searchable, and the newest index, the one rollover counts from, takes the writes again.
        """
        resp = await self.client.indices.get(
            index=f"{self.alias}-*", filter_path="*.settings.index.provided_name", expand_wildcards="open"
        )
        pattern = re.compile(re.escape(self.alias) + r"-(\d{6,})")
        numbered = sorted((int(m[1]), name) for name in resp.body or {} if (m := pattern.fullmatch(name)))
        if not numbered:
            return False
        write = numbered[-1][1]
        await self.client.indices.update_aliases(
            actions=[
                {"add": {"index": name, "alias": self.alias, "is_write_index": name == write}} for _, name in numbered
            ]
        )
        log.warning(
            "the alias %s was missing or had no write index; put it back on %s (writes go to %s)",
            self.alias,
            ", ".join(name for _, name in numbered),
            write,
        )
        return True

    @property
    def has_write_index(self) -> bool:
        """The alias (as last read) names a write index: rollover needs one."""
        return any(b.is_write for b in self.backing)

    async def _write_index_fingerprint(self) -> dict | None:
        write = self.write_index
        resp = await self.client.indices.get_mapping(index=write.name)
        return resp[write.name]["mappings"].get("_meta")

    # --- the backing indices ---------------------------------------------------------------------
    async def refresh(self) -> None:
        """Re-read the alias's backing indices and their creation times."""
        started = _now_ms()
        aliases = await self.client.indices.get_alias(name=self.alias)
        settings = await self.client.indices.get_settings(index=",".join(aliases), name="index.creation_date")
        backing = []
        for name, spec in aliases.items():
            created = int(settings[name]["settings"]["index"]["creation_date"])
            is_write = bool(spec["aliases"][self.alias].get("is_write_index", len(aliases) == 1))
            backing.append(BackingIndex(name, created, is_write))
        backing.sort(key=lambda b: b.created_ms)
        self.backing = backing
        self._starts = [b.created_ms for b in backing]
        # Any index created later (by another worker, the CLI or ILM) starts after this instant; the
        # margin absorbs clock skew between this process and Elasticsearch.
        self.known_until_ms = started - CLOCK_MARGIN_MS

    async def ensure_current(self, newest_created_ms: int) -> None:
        """Re-read the backing indices unless this view already decides a post created at that time.

        Routing a post by a stale view could put it in an older index than a later replay would:
        a duplicate. Real-time posts therefore cost one alias read per batch.
        """
        if newest_created_ms >= self.known_until_ms:
            await self.refresh()

    @property
    def write_index(self) -> BackingIndex:
        writes = [b for b in self.backing if b.is_write]
        return writes[-1] if writes else self.backing[-1]

    def route(self, created_ms: int | None) -> str | None:
        """The backing index for a post created at ``created_ms``; None when older than retention."""
        if created_ms is None:
            return self.write_index.name
        if self.settings.es_retention_days and created_ms < _now_ms() - self.settings.es_retention_days * 86_400_000:
            return None
        position = bisect.bisect_right(self._starts, created_ms) - 1
        # Posts older than the first backing index go to it: nothing older exists to hold them.
        return self.backing[max(position, 0)].name

    # --- periodic maintenance --------------------------------------------------------------------
    async def rollover(self, *, force: bool = False) -> str | None:
        """Roll the write index over when a condition is met (or now, with ``force``); the new index name."""
        if self.settings.es_ilm and not force:
            return None  # ILM does it
        conditions = None if force else self.rollover_conditions()
        resp = await self.client.indices.rollover(alias=self.alias, conditions=conditions)
        if resp.get("rolled_over"):
            await self._wait_started(resp["new_index"])
            log.info("rolled %s over from %s to %s", self.alias, resp["old_index"], resp["new_index"])
            await self.refresh()
            return str(resp["new_index"])
        return None

    def rollover_conditions(self) -> dict[str, object]:
        """The ASCOLTO_ES_ROLLOVER_* conditions, in the rollover API's terms."""
        conditions: dict[str, object] = {
            "max_age": self.settings.es_rollover_max_age,
            "max_primary_shard_size": self.settings.es_rollover_max_size,
        }
        if self.settings.es_rollover_max_docs:
            conditions["max_docs"] = self.settings.es_rollover_max_docs
        return conditions

    async def _wait_started(self, index: str) -> None:
        # Searches through the alias fail with 503 until the new index's primary shard has started.
        await self.client.cluster.health(index=index, wait_for_status="yellow", timeout="30s")

    async def apply_retention(self) -> list[str]:
        """Delete backing indices whose every post is older than the retention; the names deleted."""
        if not self.settings.es_retention_days or self.settings.es_ilm:
            return []
        await self.refresh()
        cutoff = _now_ms() - self.settings.es_retention_days * 86_400_000
        doomed = [
            older.name
            for older, newer in zip(self.backing, self.backing[1:], strict=False)
            if newer.created_ms < cutoff and not older.is_write
        ]
        for name in doomed:
            try:
                await self.client.indices.delete(index=name)
                log.info("retention: deleted %s (all posts older than %g days)", name, self.settings.es_retention_days)
            except NotFoundError:
                pass
        if doomed:
            await self.refresh()
        return doomed

    async def maintain(self) -> None:
        """One round of rollover and retention (the worker calls this every ASCOLTO_ES_LIFECYCLE_SECONDS)."""
        await self.rollover()
        await self.apply_retention()


def _now_ms() -> int:
    return int(time.time() * 1000)
