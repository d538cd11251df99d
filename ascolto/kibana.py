"""Kibana saved objects shipped in ``deploy/kibana/``: checked against the index templates, and
imported through Kibana's saved objects API.

No Kibana runs in CI, so :func:`check_saved_objects` is what guards the dashboards: every field a
data view, visualization or saved search names must exist in the template it reads, with a type
that the use (aggregation, sort, time field) needs.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from ascolto.resources import deploy_path
from core.errors import AscoltoError
from core.settings import Settings
from elastic.templates import render_posts_templates, template_file

SAVED_OBJECTS = deploy_path("kibana", "ascolto.ndjson")
NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"}
AGGREGATABLE = NUMERIC | {"keyword", "date", "boolean", "ip"}
#: What each aggregation type needs of its field.
AGG_FIELD_TYPES = {
    "terms": AGGREGATABLE, "significant_terms": AGGREGATABLE, "cardinality": AGGREGATABLE,
    "date_histogram": {"date"}, "date_range": {"date"}, "histogram": NUMERIC, "range": NUMERIC,
    "avg": NUMERIC, "sum": NUMERIC, "median": NUMERIC, "percentiles": NUMERIC, "std_dev": NUMERIC,
    "min": NUMERIC | {"date"}, "max": NUMERIC | {"date"}, "top_hits": AGGREGATABLE,
}  # fmt: skip
_KQL_FIELD = re.compile(r"([A-Za-z_][\w.]*)\s*:")


def flatten_mapping(properties: dict[str, Any], prefix: str = "") -> dict[str, dict[str, Any]]:
    """{"sentiment.label": {"type": "keyword", ...}, "text.it": {...}} from a mapping's properties."""
    fields: dict[str, dict[str, Any]] = {}
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            fields.update(flatten_mapping(spec["properties"], f"{path}."))
            continue
        fields[path] = spec
        for sub, sub_spec in spec.get("fields", {}).items():
            fields[f"{path}.{sub}"] = sub_spec
    return fields


def index_fields(settings: Settings) -> dict[str, dict[str, dict[str, Any]]]:
    """Fields of each data view pattern ascolto ships, from the templates it installs."""
    posts = render_posts_templates(settings, {"italian": "italian", "english": "english"})
    alerts = template_file("alerts.mappings")
    return {
        f"{settings.es_index}*": flatten_mapping(posts.mappings_component["template"]["mappings"]["properties"]),
        f"{settings.es_alerts_index}*": flatten_mapping(alerts["template"]["mappings"]["properties"]),
    }


@dataclass(frozen=True)
class FieldUse:
    """One place a saved object names a field, and the types that place accepts (None: any indexed)."""

    object_id: str
    where: str
    field: str
    accepts: frozenset[str] | None


def load_saved_objects(path: Path = SAVED_OBJECTS) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def _json_attr(obj: dict[str, Any], *keys: str) -> Any:
    node: Any = obj["attributes"]
    for key in keys:
        node = node.get(key, {}) if isinstance(node, dict) else {}
    return orjson.loads(node) if isinstance(node, str) and node else {}


def field_uses(obj: dict[str, Any]) -> Iterator[FieldUse]:
    """Every field reference in one saved object."""
    oid, kind, attrs = obj["id"], obj["type"], obj["attributes"]
    if kind == "index-pattern" and attrs.get("timeFieldName"):
        yield FieldUse(oid, "timeFieldName", attrs["timeFieldName"], frozenset({"date"}))
    source = _json_attr(obj, "kibanaSavedObjectMeta", "searchSourceJSON")
    query = (source.get("query") or {}).get("query", "") if isinstance(source, dict) else ""
    for match in _KQL_FIELD.finditer(query if isinstance(query, str) else ""):
        yield FieldUse(oid, "query", match.group(1), None)
    for flt in source.get("filter", []) if isinstance(source, dict) else []:
        key = (flt.get("meta") or {}).get("key")
        if key:
            yield FieldUse(oid, "filter", key, None)
    if kind == "visualization":
        for agg in _json_attr(obj, "visState").get("aggs", []):
            fld = (agg.get("params") or {}).get("field")
            if fld:
                accepts = AGG_FIELD_TYPES.get(agg["type"])
                yield FieldUse(oid, f"{agg['type']} aggregation", fld, frozenset(accepts) if accepts else None)
    if kind == "search":
        for column in attrs.get("columns", []):
            yield FieldUse(oid, "column", column, None)
        for sort in attrs.get("sort", []):
            yield FieldUse(oid, "sort", sort[0], frozenset(AGGREGATABLE))


def _data_view_of(obj: dict[str, Any], views: dict[str, str]) -> str | None:
    if obj["type"] == "index-pattern":
        return obj["attributes"]["title"]
    for ref in obj.get("references", []):
        if ref["type"] == "index-pattern":
            return views.get(ref["id"])
    return None


def check_saved_objects(settings: Settings, path: Path = SAVED_OBJECTS) -> list[str]:
    """Problems found (empty when every reference and field is sound)."""
    objects = load_saved_objects(path)
    by_id = {(o["type"], o["id"]) for o in objects}
    views = {o["id"]: o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}
    fields = index_fields(settings)
    problems = []
    for obj in objects:
        for ref in obj.get("references", []):
            if (ref["type"], ref["id"]) not in by_id:
                problems.append(f"{obj['id']}: reference {ref['name']} → missing {ref['type']} {ref['id']}")
        pattern = _data_view_of(obj, views)
        if pattern is None:
            continue
        if pattern not in fields:
            problems.append(f"{obj['id']}: data view {pattern!r} is not an index ascolto creates")
            continue
        for use in field_uses(obj):
            spec = fields[pattern].get(use.field)
            if spec is None:
                problems.append(f"{use.object_id}: {use.where} uses {use.field!r}, which {pattern} does not map")
            elif spec.get("index") is False and use.where in ("query", "filter"):
                problems.append(f"{use.object_id}: {use.where} uses {use.field!r}, which is not indexed")
            elif use.accepts is not None and spec.get("type") not in use.accepts:
                problems.append(
                    f"{use.object_id}: {use.where} needs {'/'.join(sorted(use.accepts))} but {use.field!r} is "
                    f"{spec.get('type')}"
                )
    return problems


def import_saved_objects(url: str, settings: Settings, path: Path = SAVED_OBJECTS, space: str | None = None) -> dict:
    """POST the NDJSON to Kibana's ``/api/saved_objects/_import?overwrite=true``; Kibana's answer."""
    headers = {"kbn-xsrf": "ascolto"}
    if settings.kibana_api_key:
        headers["Authorization"] = f"ApiKey {settings.kibana_api_key.get_secret_value()}"
    elif settings.kibana_username and settings.kibana_password:
        pair = f"{settings.kibana_username}:{settings.kibana_password.get_secret_value()}".encode()
        headers["Authorization"] = f"Basic {base64.b64encode(pair).decode('ascii')}"
    prefix = f"/s/{space}" if space else ""
    endpoint = f"{url.rstrip('/')}{prefix}/api/saved_objects/_import?overwrite=true"

    async def send() -> dict:
        form = aiohttp.FormData()
        form.add_field("file", path.read_bytes(), filename=path.name, content_type="application/ndjson")
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(endpoint, data=form, headers=headers) as resp:
                body = await resp.text()
                if resp.status >= 400:
                    raise AscoltoError(
                        f"Kibana refused the import ({resp.status}: {body[:200]}); check the URL and "
                        "ASCOLTO_KIBANA_API_KEY or ASCOLTO_KIBANA_USERNAME/PASSWORD."
                    )
                return orjson.loads(body)

    try:
        return asyncio.run(send())
    except aiohttp.ClientError as exc:
        raise AscoltoError(f"Cannot reach Kibana at {url} ({type(exc).__name__}); check --url.") from None
