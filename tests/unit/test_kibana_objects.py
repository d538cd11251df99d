"""deploy/kibana/ascolto.ndjson, read independently of ascolto.kibana's own checker: every field named
anywhere in a saved object (at any depth, inside JSON-in-a-string attributes too: aggregation params, Lens
columns, saved-search columns and sort, filters, KQL/Lucene queries, time fields) exists in the index
template's mapping of the data view the object reads; every reference an object names resolves; the
sentiment colours name labels the pipeline writes. No Kibana runs here: this is what keeps the saved
objects from rotting when a field is renamed."""

from __future__ import annotations

import fnmatch
import json
import re
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas.contracts import SentimentLabel

REPO = Path(__file__).resolve().parents[2]
SAVED_OBJECTS = REPO / "deploy" / "kibana" / "ascolto.ndjson"
TEMPLATES = REPO / "elastic" / "templates"
# The keys under which Kibana's saved objects name a document field (visState aggs, Lens layers,
# filters' meta, saved searches, data views).
FIELD_KEYS = {"field", "sourceField", "fieldName", "timeField", "timeFieldName", "key"}
# The meta.key of a filter, Lens' column.sourceField etc. hold field names; `key` elsewhere (a
# dashboard's filter meta) too, so only keys inside these containers are read as fields:
KEY_CONTAINERS = {"meta"}
_QUERY_FIELD = re.compile(r"(?<![\w.\"'])([A-Za-z_@][\w.]*)\s*:(?!//)")


def _mapping_fields(properties: dict[str, Any], prefix: str = "") -> set[str]:
    fields: set[str] = set()
    for name, spec in properties.items():
        path = f"{prefix}{name}"
        if "properties" in spec:
            fields |= _mapping_fields(spec["properties"], f"{path}.")
        else:
            fields.add(path)
            fields |= {f"{path}.{sub}" for sub in spec.get("fields", {})}
    return fields


def template_fields(name: str) -> set[str]:
    template = json.loads((TEMPLATES / f"{name}.mappings.json").read_text(encoding="utf-8"))
    return _mapping_fields(template["template"]["mappings"]["properties"])


# Data view title → the fields its indices map; the index names are those the code creates with the
# default settings (ascolto-posts-000001… behind the write alias, ascolto-alerts…).
DATA_VIEWS = {"ascolto-posts*": template_fields("posts"), "ascolto-alerts*": template_fields("alerts")}
INDEX_NAMES = {"ascolto-posts*": "ascolto-posts-000001", "ascolto-alerts*": "ascolto-alerts"}


def load() -> list[dict[str, Any]]:
    return [json.loads(line) for line in SAVED_OBJECTS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _decoded(value: Any) -> Any:
    """Kibana stores many attributes as JSON inside a string (visState, searchSourceJSON, panelsJSON...)."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def field_references(node: Any, parent: str = "") -> Iterator[tuple[str, str]]:
    """(where, field) for every field name in a saved object's attributes, at any depth."""
    node = _decoded(node)
    if isinstance(node, dict):
        for key, value in node.items():
            value = _decoded(value)
            if isinstance(value, str) and value:
                if key in FIELD_KEYS - {"key"} or (key == "key" and parent in KEY_CONTAINERS):
                    yield f"{parent}.{key}", value
                if key == "query" and isinstance(node.get("language"), str):  # KQL or Lucene
                    yield from ((f"{parent}.query", m.group(1)) for m in _QUERY_FIELD.finditer(value))
            if key == "columns" and isinstance(value, list) and all(isinstance(c, str) for c in value):
                yield from ((f"{parent}.columns", column) for column in value)
            elif key == "sort" and isinstance(value, list):
                yield from ((f"{parent}.sort", entry[0]) for entry in value if isinstance(entry, list) and entry)
            else:
                yield from field_references(value, key)
    elif isinstance(node, list):
        for item in node:
            yield from field_references(item, parent)


def data_view_title(obj: dict[str, Any], views: dict[str, str]) -> str | None:
    if obj["type"] == "index-pattern":
        return obj["attributes"]["title"]
    titles = {views[ref["id"]] for ref in obj.get("references", []) if ref["type"] == "index-pattern"}
    assert len(titles) <= 1, f"{obj['id']} reads several data views: {titles}"
    return next(iter(titles), None)


OBJECTS = load()
VIEWS = {o["id"]: o["attributes"]["title"] for o in OBJECTS if o["type"] == "index-pattern"}


def test_the_walker_finds_the_fields_the_objects_are_built_on() -> None:
    """If the walker read nothing, every other test here would pass vacuously."""
    found = {field for obj in OBJECTS for _, field in field_references(obj["attributes"])}
    assert {"created_at", "sentiment.label", "topics", "lang", "source", "author.handle", "text"} <= found
    assert {"rule", "key", "severity", "window_start"} <= found  # the alerts saved search's columns


@pytest.mark.parametrize("obj", OBJECTS, ids=lambda o: o["id"])
def test_every_field_an_object_names_is_mapped(obj: dict[str, Any]) -> None:
    title = data_view_title(obj, VIEWS)
    references = list(field_references(obj["attributes"]))
    if title is None:
        assert references == [], f"{obj['id']} names fields but reads no data view: {references}"
        return
    assert title in DATA_VIEWS, f"{obj['id']} reads {title!r}, which is not an index ascolto creates"
    unknown = [f"{where}: {field!r}" for where, field in references if field not in DATA_VIEWS[title]]
    assert unknown == [], f"{obj['id']} names fields {title} does not map: {unknown}"


def test_data_views_match_the_indices_ascolto_creates() -> None:
    for title in VIEWS.values():
        assert fnmatch.fnmatchcase(INDEX_NAMES[title], title)


def test_every_reference_resolves() -> None:
    present = {(o["type"], o["id"]) for o in OBJECTS}
    for obj in OBJECTS:
        names = {ref["name"] for ref in obj.get("references", [])}
        for ref in obj.get("references", []):
            assert (ref["type"], ref["id"]) in present, f"{obj['id']}: {ref['name']} → missing {ref['id']}"
        source = _decoded(obj["attributes"].get("kibanaSavedObjectMeta", {}).get("searchSourceJSON", "{}"))
        if "indexRefName" in source:
            assert source["indexRefName"] in names, f"{obj['id']}: indexRefName without its reference"
        for panel in _decoded(obj["attributes"].get("panelsJSON", "[]")):
            wanted = f"{panel['panelIndex']}:{panel['panelRefName']}"
            assert wanted in names, f"{obj['id']}: panel {panel['panelIndex']} has no reference {wanted}"


def test_sentiment_colours_name_labels_the_pipeline_writes() -> None:
    labels = set(typing.get_args(SentimentLabel))
    for obj in OBJECTS:
        colours = (_decoded(obj["attributes"].get("uiStateJSON", "{}")).get("vis") or {}).get("colors") or {}
        assert set(colours) <= labels, f"{obj['id']} colours unknown labels: {set(colours) - labels}"


def test_a_renamed_field_is_caught() -> None:
    """The check fails where it should: a visualization on a field the template does not map."""
    broken = json.loads(json.dumps(next(o for o in OBJECTS if o["id"] == "ascolto-vis-language-split")))
    broken["attributes"]["visState"] = broken["attributes"]["visState"].replace('"field":"lang"', '"field":"language"')
    search = json.loads(json.dumps(next(o for o in OBJECTS if o["id"] == "ascolto-search-latest-negative")))
    meta = json.loads(search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
    meta["query"]["query"] = "sentiment.labels:negative and not lang:en"
    search["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"] = json.dumps(meta)
    for obj, bad in ((broken, "language"), (search, "sentiment.labels")):
        with pytest.raises(AssertionError, match=re.escape(repr(bad))):
            test_every_field_an_object_names_is_mapped(obj)
