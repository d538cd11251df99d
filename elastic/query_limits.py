"""What a search query may ask of Elasticsearch: the Lucene query-string syntax, with its costly parts bounded.

The search API is open to anyone who reaches the worker, so a query must not be able to make
Elasticsearch enumerate its whole term dictionary: regular expressions and leading wildcards are
refused, wildcards need a few letters before them, fuzziness and ranges are limited, and so is the
number of terms. Everything else of the syntax (``AND``/``OR``/``NOT``, ``+``/``-``, phrases,
proximity, ``field:value``, groups, boosts) works as in Elasticsearch's ``query_string``.
Each refusal is a :class:`QueryRejected` with one sentence naming the limit.
"""

from __future__ import annotations

from typing import Any

from luqum.exceptions import ParseError
from luqum.parser import parser
from luqum.tree import Fuzzy, Item, OpenRange, Phrase, Range, Regex, SearchField, Word

#: Longest query accepted, in characters: parsing and the term count stay cheap.
MAX_QUERY_CHARS = 1000
#: Letters a wildcard term must start with (``bol*``): fewer would expand to most of the dictionary.
MIN_WILDCARD_PREFIX = 3
#: Fuzzy and wildcard terms in one query, at most: each one is a scan of the term dictionary.
MAX_EXPANDING_TERMS = 3
#: Largest edit distance of a fuzzy term (``bolleta~2``), Lucene's own maximum.
MAX_FUZZINESS = 2
#: Leading characters a fuzzy term keeps as written: skips most of the dictionary (measured).
FUZZY_PREFIX_LENGTH = 1
#: Terms a fuzzy or wildcard term may expand to.
MAX_EXPANSIONS = 10
#: Numeric and date fields a range (``[a TO b]``, ``>5``) may name; on text a range scans every term.
RANGE_FIELDS = frozenset(
    {
        "created_at", "indexed_at", "author.followers", "metrics.likes", "metrics.reposts", "metrics.replies",
        "sentiment.compound", "sentiment.pos", "sentiment.neu", "sentiment.neg",
    }
)  # fmt: skip


class QueryRejected(ValueError):
    """A query outside the bounds; its message is the sentence to show."""


def _wildcard_at(term: str) -> int | None:
    """Position of the first unescaped ``*`` or ``?`` in ``term``, or None."""
    escaped = False
    for position, char in enumerate(term):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "*?":
            return position
    return None


def check_query(query: str, max_terms: int) -> None:
    """Raise :class:`QueryRejected` if ``query`` breaks a limit or is not valid query-string syntax."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryRejected(f"q is {len(query)} characters long, more than the {MAX_QUERY_CHARS} allowed")
    if not query.strip():
        return
    try:
        tree = parser.parse(query)
    except ParseError as exc:
        detail = str(exc).removeprefix("Syntax error in input : ").rstrip("!")
        raise QueryRejected(f"q is not a valid query ({detail}); check its quotes, parentheses and operators") from None
    terms = expanding = 0
    # (node, field it is under): iterative, since a query may nest groups deeper than Python recurses.
    pending: list[tuple[Item, str | None]] = [(tree, None)]
    while pending:
        node, field = pending.pop()
        if isinstance(node, Regex):
            raise QueryRejected(
                f"regular expressions like {node.value} are not allowed in q; use words, phrases or a trailing "
                "wildcard such as bollett*"
            )
        if isinstance(node, SearchField):
            if _wildcard_at(node.name) is not None:
                raise QueryRejected(f"field names with wildcards ({node.name}) are not allowed in q; name the field")
            field = node.name
        elif isinstance(node, (Range, OpenRange)):
            if field not in RANGE_FIELDS:
                raise QueryRejected(
                    f"ranges are allowed in q only on {', '.join(sorted(RANGE_FIELDS))}; for time use since and until"
                )
            terms += 1
            continue  # the bounds are values, not terms to expand
        elif isinstance(node, Fuzzy):
            # luqum reads a bare ``~`` as 0.5 (Lucene's old similarity), Elasticsearch as AUTO (at most 2).
            if float(node.degree) > MAX_FUZZINESS:
                raise QueryRejected(f"fuzziness {node.degree} is above the maximum of {MAX_FUZZINESS} in q")
            expanding += 1
        elif isinstance(node, Phrase):
            terms += max(1, len(node.value.strip('"').split()))
        elif isinstance(node, Word):
            terms += 1
            position = _wildcard_at(node.value)
            if position is not None and node.value != "*":  # a lone * is "any value": cheap
                if position < MIN_WILDCARD_PREFIX:
                    raise QueryRejected(
                        f"wildcards need at least {MIN_WILDCARD_PREFIX} letters before them ({node.value} has "
                        f"{position}); write bollett* rather than *etta"
                    )
                expanding += 1
        pending.extend((child, field) for child in node.children)
    if terms > max_terms:
        raise QueryRejected(f"q has {terms} terms, more than the {max_terms} allowed; shorten the query")
    if expanding > MAX_EXPANDING_TERMS:
        raise QueryRejected(
            f"q has {expanding} fuzzy or wildcard terms, more than the {MAX_EXPANDING_TERMS} allowed; use plain words"
        )


def query_string(query: str, fields: list[str]) -> dict[str, Any]:
    """The ``query_string`` clause for a checked query, with Elasticsearch's own bounds set as well."""
    return {
        "query_string": {
            "query": query,
            "fields": fields,
            "default_operator": "AND",
            "allow_leading_wildcard": False,
            "fuzzy_prefix_length": FUZZY_PREFIX_LENGTH,
            "fuzzy_max_expansions": MAX_EXPANSIONS,
        }
    }
