"""Finding enrichers by name: built-in, installed plugins (entry points), or a module path."""

from __future__ import annotations

import importlib
import inspect
from importlib.metadata import entry_points
from typing import Any

from core.settings import Settings

# Importing the built-in enrichers registers them under their names.
from streams.enrichers import duplicates, entities, language, sentiment, topic_tags  # noqa: F401
from streams.enrichers.base import REGISTRY, Enricher, FunctionEnricher

ENTRY_POINT_GROUP = "ascolto.enrichers"


class EnricherNotFound(ValueError):
    """A configured enricher name resolves to nothing usable."""


def _import_path(path: str) -> Any:
    module_name, _, attr = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr)
    except (ImportError, AttributeError) as exc:
        raise EnricherNotFound(f"cannot import enricher {path!r}: {exc}") from None


def _from_object(obj: Any, label: str) -> Any:
    """A factory for a loaded object: a decorated function/class, or anything shaped like an Enricher."""
    registered = getattr(obj, "__ascolto_enricher__", None)
    if registered in REGISTRY:
        return REGISTRY[registered]
    if isinstance(obj, type) and all(hasattr(obj, a) for a in ("name", "writes", "order")):
        return obj
    if isinstance(obj, Enricher):
        return lambda: obj
    if callable(obj) and all(hasattr(obj, a) for a in ("name", "writes", "order")):
        return lambda: FunctionEnricher(obj.name, tuple(obj.writes), obj.order, obj)
    raise EnricherNotFound(f"{label} is not an enricher: decorate it with @enricher(name, writes=..., order=...)")


def resolve(name: str) -> Any:
    """The factory for ``name``: registered name, then entry point, then ``module:attr`` path."""
    if name in REGISTRY:
        return REGISTRY[name]
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=name):
        return _from_object(ep.load(), f"entry point {name!r} ({ep.value})")
    if "." in name or ":" in name:
        return _from_object(_import_path(name), repr(name))
    known = ", ".join(sorted(REGISTRY))
    raise EnricherNotFound(f"unknown enricher {name!r}; known: {known}, or give a module:attribute path")


def build(factory: Any, settings: Settings | None) -> Enricher:
    """Instantiate, passing settings to factories that take a ``settings`` parameter."""
    try:
        wants_settings = "settings" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        wants_settings = False
    return factory(settings) if wants_settings and settings is not None else factory()
