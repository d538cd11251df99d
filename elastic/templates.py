"""Index templates ascolto installs at start-up: component templates (settings, mappings), the
composable index templates that use them, and the optional ILM policy.

The committed JSON files in ``elastic/templates/`` are the source; this module fills in what
depends on the deployment (analyzer names, shards, lifecycle) and installs them idempotently.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import orjson
from elasticsearch import AsyncElasticsearch, BadRequestError

from core.settings import Settings

log = logging.getLogger(__name__)

#: For each language: the analyzers to try, best first. The built-in ones exist on a full
#: Elasticsearch; the ascolto_* ones come from deploy/elasticsearch-plugin (the test distribution
#: has no analysis-common module). Both wrap Lucene's ItalianAnalyzer / EnglishAnalyzer.
ANALYZER_CANDIDATES = {"italian": ("italian", "ascolto_italian"), "english": ("english", "ascolto_english")}


@cache
def template_file(name: str) -> dict[str, Any]:
    """A JSON file of ``elastic/templates/`` without its comment."""
    text = resources.files("elastic").joinpath(f"templates/{name}.json").read_text("utf-8")
    body = orjson.loads(text)
    body.pop("_comment", None)
    return body


def _fill(node: Any, values: dict[str, str]) -> Any:
    """Replace "$name" strings anywhere in a JSON tree."""
    if isinstance(node, dict):
        return {k: _fill(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values) for v in node]
    if isinstance(node, str) and node.startswith("$"):
        return values[node[1:]]
    return node


@dataclass(frozen=True)
class PostsTemplates:
    """Everything installed for the posts alias, and the fingerprint stored in each backing index."""

    settings_component: dict[str, Any]
    mappings_component: dict[str, Any]
    index_template: dict[str, Any]
    ilm_policy: dict[str, Any] | None
    fingerprint: dict[str, Any]


def render_posts_templates(settings: Settings, analyzers: dict[str, str]) -> PostsTemplates:
    """Templates for ``settings.es_index`` with the given analyzers ({'italian': ..., 'english': ...})."""
    alias = settings.es_index
    mappings = _fill(copy.deepcopy(template_file("posts.mappings")), analyzers)
    settings_body = copy.deepcopy(template_file("posts.settings"))
    index_settings = settings_body["template"]["settings"]["index"]
    index_settings.update(
        number_of_shards=settings.es_shards,
        number_of_replicas=settings.es_replicas,
        refresh_interval=settings.es_refresh_interval,
    )
    policy = None
    if settings.es_ilm:
        retention = f"{settings.es_retention_days:g}d" if settings.es_retention_days else "36500d"
        policy = _fill(
            copy.deepcopy(template_file("posts.ilm-policy")),
            {
                "max_age": settings.es_rollover_max_age,
                "max_size": settings.es_rollover_max_size,
                "retention": retention,
            },
        )
        index_settings["lifecycle"] = {"name": alias, "rollover_alias": alias}
    version = mappings["version"] * 1000 + settings_body["version"]
    fingerprint = {"template_version": version, "analyzers": analyzers, "managed_by": "ascolto"}
    mappings["template"]["mappings"]["_meta"] = fingerprint
    index_template = {
        "name": alias,
        "index_patterns": [f"{alias}-*"],
        "composed_of": [f"{alias}@settings", f"{alias}@mappings"],
        "priority": 200,
        "version": version,
        "meta": {"managed_by": "ascolto", "alias": alias},
    }
    return PostsTemplates(settings_body, mappings, index_template, policy, fingerprint)


async def detect_analyzers(client: AsyncElasticsearch) -> dict[str, str]:
    """The Italian and English analyzers this cluster offers (falls back to 'standard', with a warning)."""
    chosen = {}
    for language, candidates in ANALYZER_CANDIDATES.items():
        for name in candidates:
            try:
                await client.indices.analyze(analyzer=name, text="prova")
            except BadRequestError:
                continue
            chosen[language] = name
            break
        else:
            log.warning(
                "Elasticsearch has no %s analyzer (neither %s): text.%s falls back to 'standard'; "
                "install deploy/elasticsearch-plugin to get stemming",
                language,
                " nor ".join(candidates),
                language[:2],
            )
            chosen[language] = "standard"
    return chosen


async def install_posts_templates(client: AsyncElasticsearch, templates: PostsTemplates, alias: str) -> None:
    """Put the ILM policy (if any), component templates and index template; safe to repeat."""
    if templates.ilm_policy is not None:
        await client.ilm.put_lifecycle(name=alias, policy=templates.ilm_policy["policy"])
    await client.cluster.put_component_template(name=f"{alias}@settings", **templates.settings_component)
    await client.cluster.put_component_template(name=f"{alias}@mappings", **templates.mappings_component)
    await client.indices.put_index_template(**templates.index_template)


async def install_alerts_template(client: AsyncElasticsearch, settings: Settings) -> None:
    """The ``ascolto-alerts`` template (Alert v1), ready for the alerting stage."""
    name = settings.es_alerts_index
    body = template_file("alerts.mappings")
    await client.cluster.put_component_template(name=f"{name}@mappings", **body)
    await client.indices.put_index_template(
        name=name,
        index_patterns=[f"{name}*"],
        composed_of=[f"{name}@mappings"],
        priority=200,
        version=body["version"],
        meta={"managed_by": "ascolto"},
    )
