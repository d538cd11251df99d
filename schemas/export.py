"""Write the JSON Schema files from the contracts: ``python -m schemas.export`` (``--check`` to compare only).

pydantic generates each schema from its TypedDict; this module turns that into a standalone
draft-07 document that fastjsonschema and other tools read: nested types inlined (no ``$ref``),
``X | None`` written as ``"type": [X, "null"]``, generated per-field titles dropped, and the
``$schema``/``$id`` header added. The committed ``*.v1.json`` files are this output, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from schemas.contracts import CONTRACTS

SCHEMA_DIR = Path(__file__).resolve().parent
DRAFT_07 = "http://json-schema.org/draft-07/schema#"
ID_BASE = "https://ascolto.dev/schemas/"

# Keywords in reading order; anything else follows alphabetically.
_KEY_ORDER = [
    "$schema", "$id", "title", "description", "$comment", "type", "const", "enum", "format",
    "minLength", "maxLength", "pattern", "minimum", "maximum", "items", "minItems", "maxItems",
    "uniqueItems", "required", "additionalProperties", "properties",
]  # fmt: skip


def file_name(name: str) -> str:
    """The committed file of a contract, e.g. ``raw_post.v1.json``."""
    return f"{name}.v1.json"


def generate(name: str) -> dict[str, Any]:
    """The draft-07 JSON Schema of the named contract (``raw_post``, ``enriched_post``, ...)."""
    generated = TypeAdapter(CONTRACTS[name]).json_schema()
    defs = generated.pop("$defs", {})
    body = _tidy(_inline(generated, defs), top=True)
    return _ordered({"$schema": DRAFT_07, "$id": ID_BASE + file_name(name), **body})


def render(name: str) -> str:
    """The exact text of the committed file."""
    return _json(generate(name)) + "\n"


def _json(node: Any, indent: str = "") -> str:
    """Indented JSON, with lists of plain values kept on one line (``"type": ["string", "null"]``)."""
    inner = indent + "  "
    if isinstance(node, dict) and node:
        items = (f"{inner}{json.dumps(k)}: {_json(v, inner)}" for k, v in node.items())
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(node, list) and any(isinstance(item, dict | list) for item in node):
        return "[\n" + ",\n".join(inner + _json(item, inner) for item in node) + f"\n{indent}]"
    return json.dumps(node, ensure_ascii=False)


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].removeprefix("#/$defs/")]
        return _inline({**target, **{k: v for k, v in node.items() if k != "$ref"}}, defs)
    return {key: _inline(value, defs) for key, value in node.items()}


def _tidy(schema: dict[str, Any], *, top: bool = False) -> dict[str, Any]:
    out = {k: v for k, v in schema.items() if top or k != "title"}
    if "properties" in out:
        out["properties"] = {field: _tidy(spec) for field, spec in out["properties"].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(out.get(key), dict):
            out[key] = _tidy(out[key])
    if "anyOf" in out:
        out["anyOf"] = [_tidy(branch) for branch in out["anyOf"]]
        out = _nullable(out)
    if out.get("additionalProperties") is True and "properties" not in out and not top:
        del out["additionalProperties"]  # a free-form object, e.g. RawPost.raw
    return _ordered(out)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """``anyOf: [X, {type: null}]`` → X with ``type: [X's type, "null"]``, the form people write."""
    branches = schema["anyOf"]
    if len(branches) != 2 or {"type": "null"} not in branches:
        return schema
    [other] = [b for b in branches if b != {"type": "null"}]
    if not isinstance(other.get("type"), str) or "enum" in other or "const" in other:
        return schema  # null would fail the other keywords: keep the anyOf
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**other, **rest, "type": [other["type"], "null"]}


def _ordered(schema: dict[str, Any]) -> dict[str, Any]:
    rank = {key: i for i, key in enumerate(_KEY_ORDER)}
    return dict(sorted(schema.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a committed file differs, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for name in CONTRACTS:
        path = SCHEMA_DIR / file_name(name)
        text = render(name)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path.name)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    if stale and args.check:
        print(f"out of date: {', '.join(stale)}; run `python -m schemas.export` and commit the result.")
        return 1
    print(f"{'wrote' if stale else 'up to date:'} {', '.join(stale) or ', '.join(map(file_name, CONTRACTS))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
