"""What the posts indices look like, read without changing anything (``ascolto index status``).

Everything here is a read: templates are compared with what this version would install, and
the rollover conditions are evaluated with the rollover API's ``dry_run``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from elasticsearch import AsyncElasticsearch, NotFoundError

from core.settings import Settings
from elastic.lifecycle import BackingIndex, PostsIndex
from elastic.templates import detect_analyzers, render_posts_templates


@dataclass(frozen=True)
class BackingRow:
    index: BackingIndex
    docs: int | None


@dataclass
class IndexStatus:
    """The posts alias, its backing indices and whether anything is due; see :func:`read_status`."""

    alias: str
    analyzers: dict[str, str]
    expected: dict[str, Any]
    installed: dict[str, Any] | None
    write_index_fingerprint: dict[str, Any] | None = None
    backing: list[BackingRow] = field(default_factory=list)
    #: Rollover condition → met, as the rollover API's dry run reports it; None under ILM or without an alias.
    rollover_conditions: dict[str, bool] | None = None

    @property
    def templates_current(self) -> bool:
        """Installed templates are the ones this version of ascolto would install."""
        return self.installed == self.expected

    @property
    def rollover_due(self) -> bool:
        """A worker (or ``ascolto index rollover``) would roll the write index over now."""
        conditions_met = any((self.rollover_conditions or {}).values())
        template_changed = bool(self.backing) and self.write_index_fingerprint != self.expected
        return conditions_met or template_changed


async def read_status(client: AsyncElasticsearch, settings: Settings) -> IndexStatus:
    """The state of ``settings.es_index``; only reads from Elasticsearch."""
    alias = settings.es_index
    analyzers = await detect_analyzers(client)
    expected = render_posts_templates(settings, analyzers).fingerprint
    status = IndexStatus(alias, analyzers, expected, await _installed_fingerprint(client, alias))
    if not await client.indices.exists_alias(name=alias):
        return status
    posts = PostsIndex(client, settings)
    await posts.refresh()
    rows = cast(list[dict[str, Any]], (await client.cat.indices(index=f"{alias}-*", format="json")).body)
    counts = {row["index"]: row["docs.count"] for row in rows}
    status.backing = [BackingRow(b, _int(counts.get(b.name))) for b in posts.backing]
    mapping = await client.indices.get_mapping(index=posts.write_index.name)
    status.write_index_fingerprint = mapping[posts.write_index.name]["mappings"].get("_meta")
    if not settings.es_ilm:
        resp = await client.indices.rollover(alias=alias, conditions=posts.rollover_conditions(), dry_run=True)
        status.rollover_conditions = {str(k): bool(v) for k, v in resp.get("conditions", {}).items()}
    return status


async def _installed_fingerprint(client: AsyncElasticsearch, alias: str) -> dict[str, Any] | None:
    try:
        resp = await client.cluster.get_component_template(name=f"{alias}@mappings")
    except NotFoundError:
        return None
    templates = resp.get("component_templates", [])
    if not templates:
        return None
    meta = templates[0]["component_template"]["template"].get("mappings", {}).get("_meta")
    return dict(meta) if meta else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
