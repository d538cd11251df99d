"""Elasticsearch clients built from settings, and the one sentence a user reads when it is unreachable."""

from __future__ import annotations

from typing import Any

from elasticsearch import AsyncElasticsearch, Elasticsearch
from elasticsearch.serializer import OrjsonSerializer

from core.errors import ElasticsearchUnavailable
from core.settings import Settings


def _client_options(settings: Settings) -> dict[str, Any]:
    # orjson: bulk bodies are serialised several times faster than with the stdlib json module.
    options: dict[str, Any] = {"request_timeout": settings.es_request_timeout, "serializer": OrjsonSerializer()}
    if settings.es_api_key:
        options["api_key"] = settings.es_api_key.get_secret_value()
    elif settings.es_username and settings.es_password:
        options["basic_auth"] = (settings.es_username, settings.es_password.get_secret_value())
    if settings.es_ca_certs:
        options["ca_certs"] = str(settings.es_ca_certs)
    return options


def es_client(settings: Settings) -> Elasticsearch:
    """A synchronous client (CLI, tests, benchmarks)."""
    return Elasticsearch(settings.es_url, **_client_options(settings))


def async_es_client(settings: Settings) -> AsyncElasticsearch:
    """An asyncio client (the indexer agent)."""
    return AsyncElasticsearch(settings.es_url, **_client_options(settings))


def unreachable(settings: Settings, exc: BaseException | None = None) -> ElasticsearchUnavailable:
    """The one sentence a user reads when Elasticsearch does not answer."""
    detail = f" ({type(exc).__name__})" if exc else ""
    return ElasticsearchUnavailable(
        f"Cannot reach Elasticsearch at {settings.es_url_safe}{detail}: start the local stack with "
        "`ascolto stack up` or point ASCOLTO_ES_URL (and credentials) at your cluster."
    )
