"""The enricher extension point: a small function or class, registered by name.

An enricher receives the post being enriched (a dict holding the RawPost fields and whatever
earlier enrichers wrote) and returns the fields it sets. It declares its ``name``, the fields
it ``writes`` and its ``order`` in the chain (lower runs first)::

    @enricher("shouting", writes=("shouting",), order=50)
    def shouting(post):
        return {"shouting": post["text"].isupper()}

Classes work the same way and are instantiated once, when a chain is built, which is where
heavy resources such as lexicons are loaded (never at import time).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

Fields = Mapping[str, Any]


@runtime_checkable
class Enricher(Protocol):
    """What the chain calls. ``writes`` lists every field the enricher may set."""

    @property
    def name(self) -> str: ...
    @property
    def writes(self) -> tuple[str, ...]: ...
    @property
    def order(self) -> int: ...

    def __call__(self, post: dict[str, Any]) -> Fields | None: ...


@dataclass(frozen=True)
class FunctionEnricher:
    """A plain function turned into an :class:`Enricher`."""

    name: str
    writes: tuple[str, ...]
    order: int
    fn: Callable[[dict[str, Any]], Fields | None]

    def __call__(self, post: dict[str, Any]) -> Fields | None:
        return self.fn(post)


EnricherFactory = Callable[[], Enricher]

#: name → factory building a ready enricher; filled by :func:`enricher`.
REGISTRY: dict[str, EnricherFactory] = {}

T = TypeVar("T")


def enricher(name: str, *, writes: tuple[str, ...], order: int = 100) -> Callable[[T], T]:
    """Register a function or class as the enricher ``name`` (see the module docstring)."""

    def register(target: T) -> T:
        if name in REGISTRY:
            raise ValueError(f"an enricher named {name!r} is already registered")
        if isinstance(target, type):
            target.name, target.writes, target.order = name, writes, order  # type: ignore[attr-defined]
            REGISTRY[name] = target
        elif callable(target):
            fn = FunctionEnricher(name, writes, order, target)
            REGISTRY[name] = lambda: fn
        else:
            raise TypeError(f"@enricher({name!r}) needs a function or a class, not {type(target).__name__}")
        # Lets a loader that imported the object by path find the name it registered under.
        target.__ascolto_enricher__ = name  # type: ignore[attr-defined]
        return target

    return register


class EnricherFailed(Exception):
    """An enricher raised, or wrote a field it did not declare; the post goes to the dead-letter topic."""

    def __init__(self, name: str, error: str) -> None:
        super().__init__(f"enricher {name!r} failed: {error}")
        self.name = name
        self.error = error
