"""The contracts are defined once (schemas.contracts): files, factories, headers and mappings follow."""

import hashlib
import re
from pathlib import Path

import orjson
import pytest
from faust.types.core import prepare_headers

import schemas.export
from ascolto.testing import make_post
from connectors.generator import GeneratorSource
from elastic.templates import template_file
from schemas import (
    ALERT_HEADERS,
    DEAD_LETTER_HEADERS,
    ENRICHED_POST_HEADERS,
    RAW_POST_HEADERS,
    InvalidMessage,
    alert_id,
    load_schema,
    raw_post,
    validate,
)
from schemas.contracts import CONTRACTS

REPO = Path(__file__).resolve().parents[2]
PRODUCT_PACKAGES = ("schemas", "core", "elastic", "connectors", "streams", "web", "ascolto")


# --- one definition → the committed JSON Schema files ----------------------------------------
@pytest.mark.parametrize("name", ["raw_post", "enriched_post", "dead_letter", "alert"])
def test_committed_schema_file_is_what_the_contract_generates(name):
    committed = (REPO / "schemas" / f"{name}.v1.json").read_text(encoding="utf-8")
    assert committed == schemas.export.render(name), f"run `python -m schemas.export` and commit {name}.v1.json"


@pytest.mark.parametrize("name", ["raw_post", "enriched_post", "dead_letter", "alert"])
def test_schema_file_and_python_type_name_the_same_fields(name):
    contract, schema = CONTRACTS[name], load_schema(name)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert schema["title"] == f"{contract.__name__} v1"
    assert set(schema["properties"]) == set(contract.__annotations__)
    assert set(schema["required"]) == set(contract.__required_keys__)
    assert schema["properties"]["schema_version"]["const"] == 1


def test_export_check_fails_on_a_stale_file_and_writing_fixes_it(tmp_path, monkeypatch, capsys):
    for name in CONTRACTS:
        (tmp_path / f"{name}.v1.json").write_text(schemas.export.render(name), encoding="utf-8")
    monkeypatch.setattr(schemas.export, "SCHEMA_DIR", tmp_path)
    assert schemas.export.main(["--check"]) == 0
    stale = tmp_path / "raw_post.v1.json"
    stale.write_text(stale.read_text().replace('"maxLength": 100000', '"maxLength": 5'), encoding="utf-8")
    assert schemas.export.main(["--check"]) == 1
    assert "raw_post.v1.json" in capsys.readouterr().out
    assert schemas.export.main([]) == 0
    assert schemas.export.main(["--check"]) == 0


# --- one RawPost factory ------------------------------------------------------------------------
def test_factory_builds_a_valid_post_keyed_by_source_and_native_id():
    post = raw_post(
        source="mastodon",
        native_id=109,
        text="la bolletta è sbagliata",
        created_at=1767225600000,
        handle="anna",
        followers=12,
        lang_hint="it",
        metrics={"likes": 3},
        url=None,
    )
    validate("raw_post", post)
    assert post["id"] == "mastodon:109" and post["native_id"] == "109"
    assert post["created_at"] == "2026-01-01T00:00:00.000Z"
    assert post["author"] == {"id": "anna", "handle": "anna", "followers": 12}
    assert "url" not in post and "raw" not in post
    assert post["schema_version"] == 1


def test_factory_defaults_created_at_to_now_and_refuses_unreadable_times():
    validate("raw_post", raw_post(source="file", native_id="1", text="ciao"))
    with pytest.raises(ValueError, match="not an ISO 8601 time"):
        raw_post(source="file", native_id="1", text="ciao", created_at="yesterday")


def test_connectors_and_test_helpers_build_posts_with_the_factory():
    generated = next(iter(GeneratorSource(count=1, seed=3)))
    validate("raw_post", generated)
    assert generated["id"] == f"generator:{generated['native_id']}"
    made = make_post("ciao", native_id="x1", source="unit")
    validate("raw_post", made)
    assert made["id"] == "unit:x1"


def test_posts_dead_letters_and_headers_are_built_only_in_schemas():
    """No product module outside schemas/ writes a contract's version or its header by hand."""
    offenders = []
    for package in PRODUCT_PACKAGES:
        if package == "schemas":
            continue
        for path in (REPO / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if re.search(r"""["']schema_version["']\s*:\s*1|ascolto-schema|original_encoding""", text):
                offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


# --- one set of headers -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "contract"),
    [
        (RAW_POST_HEADERS, "raw_post"),
        (ENRICHED_POST_HEADERS, "enriched_post"),
        (DEAD_LETTER_HEADERS, "dead_letter"),
        (ALERT_HEADERS, "alert"),
    ],
)
def test_headers_name_the_contract_and_suit_both_kafka_clients(headers, contract):
    assert dict(headers) == {"content-type": b"application/json", "ascolto-schema": f"{contract}/1".encode()}
    assert contract in CONTRACTS
    sent = list(headers)  # what kafka-python's send() requires: a list of (str, bytes) tuples
    assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in sent)
    # Faust turns the pairs into its own list, so a send cannot change the shared constant.
    assert prepare_headers(headers) == sent


# --- Alert v1 -------------------------------------------------------------------------------------
def alert(**over):
    doc = {
        "id": alert_id("negative_spike", "billing", "2026-01-01T10:00:00Z", "2026-01-01T10:15:00Z"),
        "rule": "negative_spike",
        "key": "billing",
        "window_start": "2026-01-01T10:00:00Z",
        "window_end": "2026-01-01T10:15:00Z",
        "metric": "negative_share",
        "observed": 0.62,
        "baseline": 0.2,
        "score": 4.1,
        "severity": "warning",
        "sample_post_ids": ["generator:s1-burst-0", "generator:s1-burst-1"],
        "created_at": "2026-01-01T10:15:02.120Z",
        "schema_version": 1,
    }
    doc.update(over)
    return doc


def test_alert_examples_validate():
    validate("alert", alert())
    validate("alert", alert(severity="critical", observed=120, baseline=14.5, key="sciopero bus", sample_post_ids=[]))


@pytest.mark.parametrize(
    ("over", "fragment"),
    [
        ({"severity": "urgent"}, "severity"),
        ({"id": "not-a-hash"}, "id"),
        ({"window_end": "later"}, "window_end"),
        ({"observed": "high"}, "observed"),
        ({"sample_post_ids": ["nocolon"]}, "sample_post_ids"),
        ({"sample_post_ids": [f"g:{i}" for i in range(21)]}, "sample_post_ids"),
        ({"notes": "x"}, "notes"),
        ({"schema_version": 2}, "schema_version"),
    ],
)
def test_invalid_alerts_say_why(over, fragment):
    with pytest.raises(InvalidMessage) as info:
        validate("alert", alert(**over))
    assert fragment in info.value.reason


def test_alert_id_is_deterministic_from_rule_key_and_window():
    a = alert_id("negative_spike", "billing", "2026-01-01T10:00:00Z", "2026-01-01T10:15:00Z")
    assert a == alert_id("negative_spike", "billing", "2026-01-01T11:00:00+01:00", "2026-01-01T10:15:00.000Z")
    assert re.fullmatch(r"[0-9a-f]{32}", a)
    others = {
        alert_id("volume_spike", "billing", "2026-01-01T10:00:00Z", "2026-01-01T10:15:00Z"),
        alert_id("negative_spike", "outage", "2026-01-01T10:00:00Z", "2026-01-01T10:15:00Z"),
        alert_id("negative_spike", "billing", "2026-01-01T10:15:00Z", "2026-01-01T10:30:00Z"),
    }
    assert a not in others and len(others) == 3
    joined = orjson.dumps(["negative_spike", "billing", "2026-01-01T10:00:00.000Z", "2026-01-01T10:15:00.000Z"])
    assert a == hashlib.sha256(joined).hexdigest()[:32]


# The Elasticsearch types each JSON Schema shape may be indexed as (free text: text; ids and labels: keyword).
ES_TYPES = {
    "string": {"keyword", "text"},
    "date-time": {"date"},
    "number": {"double", "float"},
    "integer": {"byte", "integer", "long"},
    "boolean": {"boolean"},
}


def _shape(spec: dict, defs: dict) -> dict:
    """The JSON Schema of a field's values: nulls, arrays and $refs looked through."""
    if "$ref" in spec:
        return _shape(defs[spec["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in spec:
        (only,) = [s for s in spec["anyOf"] if s.get("type") != "null"]
        return _shape(only, defs)
    if isinstance(spec.get("type"), list):  # ["number", "null"]
        (only,) = [t for t in spec["type"] if t != "null"]
        return _shape({**spec, "type": only}, defs)
    if spec.get("type") == "array":
        return _shape(spec["items"], defs)
    return spec


def _check_mapping(mapped: dict, fields: dict, defs: dict) -> None:
    assert set(mapped) == set(fields)
    for name, spec in fields.items():
        shape = _shape(spec, defs)
        if shape.get("type") == "object":
            _check_mapping(mapped[name]["properties"], shape["properties"], defs)
            continue
        kind = "date-time" if shape.get("format") == "date-time" else shape.get("type", "string")
        assert mapped[name]["type"] in ES_TYPES[kind], name


def test_alerts_mapping_maps_each_alert_field_with_a_matching_type():
    mapped = template_file("alerts.mappings")["template"]["mappings"]["properties"]
    schema = load_schema("alert")
    _check_mapping(mapped, schema["properties"], schema.get("$defs", {}))
