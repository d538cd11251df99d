"""YAML files users write (alert rules, sources), checked by a pydantic model, with errors naming file:line.

A file of this kind is a mapping holding one list (``rules:``, ``sources:``) of named entries, each tagged
by a field (``kind:``, ``type:``) choosing its model. :func:`load_model` parses it, keeping every node's
line, and turns every mistake at once into one sentence ``file:line: <entry> NAME: field `x`: what to do.``:
YAML syntax, a key written twice in one mapping (PyYAML would silently keep the last), names used twice,
and each pydantic validation error (an unknown field gets a "did you mean").
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

_MAX_PROBLEMS = 20


class ConfigFileError(ConfigError):
    """A configuration file cannot be used; ``problems`` holds one sentence per mistake, each starting file:line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:_MAX_PROBLEMS]
        more = len(problems) - len(shown)
        super().__init__("\n".join(shown + ([f"... and {more} more problems."] if more else [])))


@dataclass(frozen=True)
class FileShape:
    """What a file of one kind looks like, for the sentences about it.

    ``list_key`` is the top-level list (``rules``) whose entries are called ``noun`` (``rule``) and told
    apart by ``tag`` (``kind``), one of ``tags``; ``models_by_name`` maps the last part of an error's
    location (a field name or a tag value) to the model behind that mapping, to list the fields it knows;
    ``not_a_mapping`` is the advice when the file is not a mapping at all.
    """

    list_key: str
    noun: str
    tag: str
    tags: Sequence[str]
    models_by_name: Mapping[str, type[BaseModel]]
    not_a_mapping: str
    suggest_tag: bool = False  # add "did you mean" to an unknown tag value
    skip_error_types: frozenset[str] = field(default_factory=frozenset)  # errors told otherwise (duplicate names)


# --- field validators the files share ---------------------------------------------------------------
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def env_var_name(what: str, example: str) -> Callable[[str], str]:
    """A validator for a field naming the environment variable that holds ``what`` (a token, a secret):
    the files never hold secrets, and the error never echoes the value (it is likely the secret itself)."""

    def check(value: str) -> str:
        if not _ENV_NAME.match(value):
            raise ValueError(
                f"write the name of an environment variable that holds the {what} (like {example}), "
                f"never the {what} itself"
            )
        return value

    return check


def listify(value: object) -> object:
    """One string where a list is expected is a list of one (``lang: it`` means ``lang: [it]``)."""
    return [value] if isinstance(value, str) else value


def read_text(path: Path | str, *, error: type[ConfigFileError], cannot_read: Callable[[str], str]) -> str:
    """The file's text, or ``error`` with the sentence ``cannot_read(reason)``."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise error([cannot_read(str(reason))]) from None


def load_model(
    text: str,
    model: type[M],
    shape: FileShape,
    *,
    source: str,
    error: type[ConfigFileError] = ConfigFileError,
    check: Callable[[yaml.Node, dict[str, Any], str], list[str]] | None = None,
    context: dict[str, Any] | None = None,
) -> M:
    """Parse ``text`` (named ``source`` in errors) and validate it as ``model``; raises ``error`` listing every
    mistake, sorted by line. ``check(root, data, source)`` may add sentences of its own (checks the model
    cannot make, or wants told differently); ``context`` goes to the model's validators."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        problems = duplicate_keys(root, source) if root is not None else []
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise error([f"{source}:{line}: this is not valid YAML ({exc.problem}); fix the syntax there."]) from None
    finally:
        loader.dispose()
    if root is None or not isinstance(data, dict):
        problems.append(f"{source}:1: {shape.not_a_mapping}")
        raise error(problems)
    problems += duplicate_names(root, data, source, shape)
    if check is not None:
        problems += check(root, data, source)
    try:
        result = model.model_validate(data, context=context)
    except ValidationError as exc:
        problems += [
            describe(err, root, data, source, shape, model)
            for err in exc.errors()
            if err["type"] not in shape.skip_error_types
        ]
    if problems:
        raise error(sorted(problems, key=_line_of))
    return result


def _line_of(problem: str) -> int:
    match = re.search(r":(\d+): ", problem)
    return int(match[1]) if match else 0


def duplicate_keys(node: yaml.Node, source: str, path: str = "") -> list[str]:
    """One sentence per key written twice in one mapping (PyYAML keeps the last without a word)."""
    problems: list[str] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            if key.tag == "tag:yaml.org,2002:merge":
                continue
            name = str(key.value)
            if name in seen:
                problems.append(
                    f"{source}:{key.start_mark.line + 1}: field `{path + name}` is written twice in the same place; "
                    "keep one."
                )
            seen.add(name)
            problems += duplicate_keys(value, source, f"{path}{name}.")
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += duplicate_keys(item, source, f"{path.rstrip('.')}[{index}].")
    return problems


def duplicate_names(root: yaml.Node, data: dict[str, Any], source: str, shape: FileShape) -> list[str]:
    """One sentence per entry of the list whose ``name`` an earlier entry already has."""
    entries = data.get(shape.list_key)
    if not isinstance(entries, list):
        return []
    first: dict[str, int] = {}
    problems: list[str] = []
    noun = shape.noun
    for index, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            continue
        line, _ = locate(root, (shape.list_key, index, "name"))
        if name in first:
            problems.append(
                f"{source}:{line}: {noun} {name}: field `name` is already used by the {noun} at line {first[name]}; "
                f"give each {noun} its own name."
            )
        else:
            first[name] = line
    return problems


def locate(root: yaml.Node, loc: Sequence[int | str]) -> tuple[int, list[int | str]]:
    """The line of the YAML node at a pydantic error location, and the parts of ``loc`` found in the file.

    Parts that are not in the file (the tag pydantic adds for a tagged union, a missing field's name)
    are skipped; the line is then that of the nearest enclosing node.
    """
    node, line, found = root, root.start_mark.line + 1, []
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            # The last of equal keys wins, as in the loaded data.
            for key, value in reversed(node.value):
                if key.value == part:
                    child, line = value, key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is not None:
            node = child
            found.append(part)
    return line, found


def describe(
    err: ErrorDetails, root: yaml.Node, data: dict[str, Any], source: str, shape: FileShape, model: type[BaseModel]
) -> str:
    """One sentence for one validation error: ``file:line: rule NAME: field `window`: what to do.``"""
    loc = list(err["loc"])
    tag_error = err["type"] in ("union_tag_invalid", "union_tag_not_found")
    if tag_error:
        loc.append(shape.tag)
    line, found = locate(root, loc)
    # A missing field is not in the file: name it anyway, at its parent's line.
    if err["type"] in ("missing", "union_tag_not_found") and (not found or found[-1] != loc[-1]):
        found.append(loc[-1])

    where, inner = "", found
    if found[:1] == [shape.list_key] and len(found) >= 2 and isinstance(found[1], int):
        entry = data[shape.list_key][found[1]]
        name = entry.get("name") if isinstance(entry, dict) else None
        where = f"{shape.noun} {name}: " if isinstance(name, str) else f"{shape.list_key}[{found[1]}]: "
        inner = found[2:]
    field_name = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in inner).lstrip(".")
    subject = f"field `{field_name}`" if field_name else (f"this {shape.noun}" if where else "the file")

    if err["type"] == "missing":
        text = f"{subject} is missing; add it"
    elif err["type"] == "extra_forbidden":
        parent = next((p for p in reversed(loc[:-1]) if isinstance(p, str) and p in shape.models_by_name), None)
        known_in = shape.models_by_name.get(parent) if parent else (model if len(loc) == 1 else None)
        known = sorted(known_in.model_fields) if known_in else []
        text = f"{subject} is not a known field{_hint(str(loc[-1]), known)}"
    elif tag_error:
        ctx = err.get("ctx") or {}
        given = f" {ctx['tag']!r}" if "tag" in ctx else ""
        close = difflib.get_close_matches(str(ctx.get("tag", "")), shape.tags, n=1) if shape.suggest_tag else []
        choices = f"did you mean {close[0]}? Use one of" if close else "use one of"
        text = (
            f"{subject}{given} is {f'not a {shape.noun} {shape.tag}' if given else 'missing'}; "
            f"{choices} {', '.join(shape.tags)}"
        )
    elif err["type"] == "value_error":
        text = f"{subject}: {(err.get('ctx') or {}).get('error', err['msg'])}"
    elif err["type"] in ("tuple_type", "list_type"):
        text = f"{subject} must be a list (one `- ` item each, or [a, b])"
    elif err["type"] in ("model_type", "model_attributes_type", "dict_type"):
        text = f"{subject} must be a mapping of fields (like `key: value`)"
    else:
        text = f"{subject}: {err['msg'][0].lower()}{err['msg'][1:]}"
    return f"{source}:{line}: {where}{text.rstrip('.?')}{'?' if text.endswith('?') else '.'}"


def _hint(given: str, known: list[str]) -> str:
    close = difflib.get_close_matches(given, known, n=1)
    if close:
        return f"; did you mean `{close[0]}`?"
    return f"; known fields here: {', '.join(known)}" if known else ""
