"""How contracts travel on Kafka: compact UTF-8 JSON values and the headers naming the contract."""

from __future__ import annotations

from typing import Any

import orjson

#: Record headers as (name, value) pairs, immutable so no send can change a shared constant. Both
#: kafka-python and Faust take a fresh list of them: ``send(..., headers=list(RAW_POST_HEADERS))``.
Headers = tuple[tuple[str, bytes], ...]


def contract_headers(contract: str, version: int = 1) -> Headers:
    """The headers of a record carrying ``contract`` (e.g. ``raw_post``), so consumers can tell it without parsing."""
    return (("content-type", b"application/json"), ("ascolto-schema", f"{contract}/{version}".encode("ascii")))


RAW_POST_HEADERS = contract_headers("raw_post")
ENRICHED_POST_HEADERS = contract_headers("enriched_post")
DEAD_LETTER_HEADERS = contract_headers("dead_letter")
ALERT_HEADERS = contract_headers("alert")


#: Header carrying an enriched post's ``created_at`` (RFC 3339), so the index sink can route the
#: post to its backing index without decoding the value.
CREATED_AT_HEADER = "ascolto-created-at"


#: Header present (value ``true``) when the post's ``created_at`` is only when ascolto received it
#: (``created_at_inferred``): the index sink then looks for an earlier copy before routing.
CREATED_AT_INFERRED_HEADER = "ascolto-created-at-inferred"


def enriched_post_headers(created_at: str, *, inferred: bool = False) -> list[tuple[str, bytes]]:
    """Headers of one ``posts.enriched`` record: the contract, plus what the index sink routes by.

    The post id needs no header: it is the record's key. ``inferred`` is the post's ``created_at_inferred``.
    """
    headers = [*ENRICHED_POST_HEADERS, (CREATED_AT_HEADER, created_at.encode("ascii"))]
    if inferred:
        headers.append((CREATED_AT_INFERRED_HEADER, b"true"))
    return headers


def dumps(obj: Any) -> bytes:
    """Compact UTF-8 JSON, the wire format of every ascolto topic."""
    return orjson.dumps(obj)
