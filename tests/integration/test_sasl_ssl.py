"""A connector and the worker through the local Kafka's SASL_SSL listener (SCRAM-SHA-512 over TLS),
end to end into Elasticsearch, with the password in no log; a wrong password is one clear sentence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ascolto.stack.kafka import sasl_ssl_access
from ascolto.stack.kafka_security import SaslSslAccess
from ascolto.testing import LocalPipeline
from core.settings import Settings

pytestmark = pytest.mark.integration

POSTS = 40


@pytest.fixture(scope="module")
def access() -> SaslSslAccess:
    return sasl_ssl_access(Settings())


def as_overrides(env: dict[str, str]) -> dict[str, str]:
    return {name.removeprefix("ASCOLTO_").lower(): value for name, value in env.items()}


@pytest.fixture(params=["SCRAM-SHA-512", "PLAIN"])
def secured(request: pytest.FixtureRequest, tmp_path: Path, access: SaslSslAccess) -> Iterator[LocalPipeline]:
    """An isolated pipeline whose every Kafka client (connector, worker, test helpers) uses SASL_SSL."""
    env = {**access.env(), "ASCOLTO_KAFKA_SASL_MECHANISM": request.param}
    # Debug logs: the most a client library might print about its configuration and its login.
    with LocalPipeline(tmp_path, log_level="debug", **as_overrides(env)) as pipeline:
        yield pipeline


def test_connector_and_worker_index_through_sasl_ssl_without_logging_the_password(
    secured: LocalPipeline, access: SaslSslAccess
) -> None:
    settings = secured.settings
    assert settings.kafka_security_protocol == "SASL_SSL" and settings.kafka_sasl_mechanism in (
        "SCRAM-SHA-512",
        "PLAIN",
    )
    assert settings.broker_list == [access.bootstrap] and access.bootstrap.endswith(":9094")

    secured.start_worker()
    published = secured.cli("connect", "generator", "--count", str(POSTS), "--seed", "7", "--rate", "1000")
    assert f"{POSTS} posts published" in published.stderr, published.stderr
    # Enriched by Faust (SASL_SSL), indexed by the aiokafka index consumer (SASL_SSL): searchable.
    secured.wait_count(POSTS)
    found = secured.cli("search", "--json", "--limit", "100").stdout.splitlines()
    assert len(found) == POSTS

    password = access.password.get_secret_value()
    logs = {
        "connector": published.stdout + published.stderr,
        "worker": secured.log_tail(chars=50_000_000),
    }
    assert "SASL_SSL" in logs["worker"] or "9094" in logs["worker"], "the worker log says nothing about Kafka"
    for who, text in logs.items():
        assert password not in text, f"the {who} log contains the Kafka password"


def test_wrong_password_is_one_sentence(tmp_path: Path, access: SaslSslAccess) -> None:
    env = {**access.env(), "ASCOLTO_KAFKA_PASSWORD": "not-the-password"}
    # Not entered: it would create topics, which a wrong password cannot. Only its isolated names are used.
    pipeline = LocalPipeline(tmp_path, **as_overrides(env))
    result = pipeline.cli("connect", "generator", "--count", "1", check=False, timeout=120)
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert "did not accept the SCRAM-SHA-512 login of user 'ascolto'" in message, message
    assert "ASCOLTO_KAFKA_PASSWORD" in message
    assert "not-the-password" not in message
