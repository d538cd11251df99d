"""Many phrases at once over folded text (pyahocorasick), with word boundaries and stems.

A term is folded (case and accents) and matched on whole words: ``ritardo`` matches "Ritardo!"
but not "ritardato"; a trailing ``*`` makes it a stem (``ritard*`` matches both); ``#tag`` matches
that hashtag only. Each term carries a payload (the topic or watch term it stands for).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from typing import Any

import ahocorasick

from streams.enrichers.text import match_text


def term_key(term: str) -> str:
    """The string searched for in :func:`match_text` output for one term."""
    stem = term.endswith("*")
    core = match_text(term.rstrip("*")).strip()
    if not core:
        raise ValueError(f"term {term!r} has no letters or digits")
    return f" {core}" if stem else f" {core} "


class PhraseMatcher:
    """Finds the payloads of every term occurring in a text; built once, read by many."""

    def __init__(self, terms: Iterable[tuple[str, Hashable]]) -> None:
        self._automaton = ahocorasick.Automaton()
        payloads: dict[str, set[Hashable]] = {}
        for term, payload in terms:
            payloads.setdefault(term_key(term), set()).add(payload)
        for key, values in payloads.items():
            self._automaton.add_word(key, frozenset(values))
        self.size = len(payloads)
        if payloads:
            self._automaton.make_automaton()

    def groups(self) -> list[frozenset[Hashable]]:
        """The distinct payload sets :meth:`occurrences` yields: one per term key."""
        return list(self._automaton.values()) if self.size else []

    def occurrences(self, text: str) -> Iterator[tuple[int, frozenset[Hashable]]]:
        """(end index, payload set) of every term occurrence in ``text``, as pyahocorasick finds them.

        The payload sets are the very objects :meth:`groups` lists, so a caller can index
        what it computed from them once by them.
        """
        if not self.size:
            return iter(())
        found: Iterator[Any] = self._automaton.iter(match_text(text))
        return found

    def find(self, text: str) -> set[Hashable]:
        """Payloads of all terms found in ``text`` (raw text: folding is done here)."""
        if not self.size:
            return set()
        found: set[Hashable] = set()
        for _, values in self._automaton.iter(match_text(text)):
            found |= values
        return found
