"""One Kafka configuration: every protocol and mechanism renders the same security for kafka-python,
aiokafka and Faust, mis-configurations are one sentence, and the password never shows."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from core.errors import ConfigError
from core.kafka import kafka_client_config
from core.kafka_config import KafkaConnection
from core.settings import Settings, get_settings

PASSWORD = "pa55-w0rd-never-shown"
SECURITY_KEYS = ("security_protocol", "ssl_context", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password")

CASES = [
    ("PLAINTEXT", None),
    ("SSL", None),
    *[
        (protocol, mech)
        for protocol in ("SASL_PLAINTEXT", "SASL_SSL")
        for mech in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
    ],
]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, and a client certificate it signed with an unencrypted and an encrypted key (openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: these TLS cases need it to make test certificates")
    d = tmp_path_factory.mktemp("pki")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=test-ca")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=client")
    run("x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "client.pem", "-days", "2")  # fmt: skip
    run("pkey", "-in", "client.key", "-aes256", "-passout", "pass:keypass", "-out", "client-encrypted.key")
    (d / "not-a-cert.pem").write_text("hello\n")
    names = ("ca.pem", "client.pem", "client.key", "client-encrypted.key", "not-a-cert.pem")
    return {name.removesuffix(".pem"): d / name for name in names}


def settings_for(protocol: str, mechanism: str | None, pki: dict[str, Path], **extra: Any) -> Settings:
    fields: dict[str, Any] = {"kafka_brokers": "b1:9094,b2:9094", "kafka_security_protocol": protocol}
    if mechanism:
        fields |= {"kafka_sasl_mechanism": mechanism, "kafka_username": "alice", "kafka_password": PASSWORD}
    if protocol.endswith("SSL"):
        fields["kafka_ssl_cafile"] = pki["ca"]
    return Settings(**fields, **extra)


def security(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: kwargs.get(k) for k in SECURITY_KEYS}


@pytest.mark.parametrize(("protocol", "mechanism"), CASES)
def test_every_client_gets_the_same_security(protocol: str, mechanism: str | None, pki: dict[str, Path]) -> None:
    conn = KafkaConnection.from_settings(settings_for(protocol, mechanism, pki))
    for_kafka_python, for_aiokafka = conn.for_kafka_python(), conn.for_aiokafka()
    # Faust turns its credentials object into aiokafka arguments itself: compare what it produces.
    from_faust = credentials_to_aiokafka_auth(conn.for_faust())

    expected = {
        "security_protocol": protocol,
        "ssl_context": conn.ssl_context,
        "sasl_mechanism": mechanism,
        "sasl_plain_username": "alice" if mechanism else None,
        "sasl_plain_password": PASSWORD if mechanism else None,
    }
    assert security(for_kafka_python) == expected
    assert security(for_aiokafka) == expected
    assert security(from_faust) == expected
    assert for_kafka_python["bootstrap_servers"] == for_aiokafka["bootstrap_servers"] == ["b1:9094", "b2:9094"]
    assert conn.faust_brokers() == ["kafka://b1:9094", "kafka://b2:9094"]
    if protocol.endswith("SSL"):
        assert isinstance(conn.ssl_context, ssl.SSLContext)
        assert conn.ssl_context.verify_mode == ssl.CERT_REQUIRED and conn.ssl_context.check_hostname
    else:
        assert conn.ssl_context is None


@pytest.mark.parametrize(("protocol", "mechanism"), CASES)
def test_each_client_accepts_its_rendering(protocol: str, mechanism: str | None, pki: dict[str, Path]) -> None:
    conn = KafkaConnection.from_settings(settings_for(protocol, mechanism, pki))
    # kafka-python rejects unknown keys only when it connects; check them against its own defaults.
    for client in (KafkaProducer, KafkaConsumer, KafkaAdminClient):
        assert set(conn.for_kafka_python()) <= set(client.DEFAULT_CONFIG), client.__name__

    async def build() -> None:
        # aiokafka validates protocol, mechanism and SSL context in its constructor ("ssl_context is mandatory").
        AIOKafkaConsumer("t", **conn.for_aiokafka())

    asyncio.run(build())


def test_mutual_tls_and_hostname_check_reach_the_shared_context(pki: dict[str, Path]) -> None:
    conn = KafkaConnection.from_settings(
        settings_for(
            "SSL", None, pki, kafka_ssl_certfile=pki["client"], kafka_ssl_keyfile=pki["client.key"],
            kafka_ssl_check_hostname=False,
        )
    )  # fmt: skip
    assert conn.ssl_context is not None and conn.ssl_context.check_hostname is False
    assert conn.ssl_context.verify_mode == ssl.CERT_REQUIRED  # the CA is still checked
    assert conn.for_kafka_python()["ssl_context"] is conn.ssl_context is conn.for_aiokafka()["ssl_context"]
    encrypted = settings_for(
        "SASL_SSL", "SCRAM-SHA-512", pki, kafka_ssl_certfile=pki["client"],
        kafka_ssl_keyfile=pki["client-encrypted.key"], kafka_ssl_key_password="keypass",
    )  # fmt: skip
    assert KafkaConnection.from_settings(encrypted).ssl_context is not None


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        (
            {"kafka_security_protocol": "SASL_SSL"},
            "needs ASCOLTO_KAFKA_SASL_MECHANISM and ASCOLTO_KAFKA_USERNAME and ASCOLTO_KAFKA_PASSWORD",
        ),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN", "kafka_username": "alice"},
            "needs ASCOLTO_KAFKA_PASSWORD",
        ),
        ({"kafka_sasl_mechanism": "PLAIN", "kafka_password": PASSWORD}, "does not use SASL"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nowhere/ca.pem"}, "/nowhere/ca.pem, which is not"),
        ({"kafka_ssl_cafile": "CA"}, "does not use TLS"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "NOT_A_CERT"}, "holds no PEM certificate"),
        ({"kafka_security_protocol": "SSL", "kafka_ssl_keyfile": "KEY"}, "needs ASCOLTO_KAFKA_SSL_CERTFILE"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "CERT", "kafka_ssl_keyfile": "ENCRYPTED_KEY"},
            "ASCOLTO_KAFKA_SSL_KEY_PASSWORD",
        ),
    ],
)
def test_misconfiguration_is_one_sentence(fields: dict[str, str], says: str, pki: dict[str, Path]) -> None:
    files = {"CA": pki["ca"], "NOT_A_CERT": pki["not-a-cert"], "CERT": pki["client"], "KEY": pki["client.key"],
             "ENCRYPTED_KEY": pki["client-encrypted.key"]}  # fmt: skip
    resolved = {k: str(files.get(v, v)) for k, v in fields.items()}
    with pytest.raises(ConfigError) as caught:
        # An encrypted key without its password must fail, not prompt on the terminal.
        KafkaConnection.from_settings(Settings(**resolved))  # type: ignore[arg-type]
    message = str(caught.value)
    assert says in message
    assert message.count(". ") == 0 and "\n" not in message and PASSWORD not in message


def test_password_is_in_no_repr_or_str(pki: dict[str, Path]) -> None:
    settings = settings_for("SASL_SSL", "SCRAM-SHA-512", pki, kafka_ssl_key_password=PASSWORD)
    conn = KafkaConnection.from_settings(settings)
    shown = [repr(settings), str(settings), repr(conn), str(conn), repr(conn.for_faust()), str(conn.for_faust())]
    assert all(PASSWORD not in text for text in shown)
    assert "alice" in str(conn) and "SASL_SSL" in str(conn)


def test_sasl_mechanism_is_validated_case_insensitively_and_empty_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASCOLTO_KAFKA_SASL_MECHANISM", "GSSAPI")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match=r"(?i)ASCOLTO_KAFKA_SASL_MECHANISM .*SCRAM-SHA-512"):
            get_settings()
        monkeypatch.setenv("ASCOLTO_KAFKA_SASL_MECHANISM", "scram-sha-512")  # spelled as some providers do
        get_settings.cache_clear()
        assert get_settings().kafka_sasl_mechanism == "SCRAM-SHA-512"
        monkeypatch.setenv("ASCOLTO_KAFKA_SASL_MECHANISM", "")
        monkeypatch.setenv("ASCOLTO_KAFKA_SSL_CAFILE", "")
        get_settings.cache_clear()
        assert get_settings().kafka_sasl_mechanism is None and get_settings().kafka_ssl_cafile is None
    finally:
        get_settings.cache_clear()


def test_plaintext_default_keeps_the_old_kafka_python_config() -> None:
    assert kafka_client_config(Settings(kafka_brokers="k:9092")) == {
        "bootstrap_servers": ["k:9092"],
        "security_protocol": "PLAINTEXT",
    }


def test_password_is_masked_in_any_log_record(pki: dict[str, Path], caplog: pytest.LogCaptureFixture) -> None:
    KafkaConnection.from_settings(settings_for("SASL_SSL", "PLAIN", pki))
    # What aiokafka logs at debug level for a PLAIN login.
    payload = b"alice\x00alice\x00" + PASSWORD.encode()
    with caplog.at_level(logging.DEBUG, logger="aiokafka.conn"):
        logging.getLogger("aiokafka.conn").debug(
            "Request %s: SaslAuthenticateRequest_v1(sasl_auth_bytes=%r)", 3, payload
        )
    assert caplog.records and PASSWORD not in caplog.text
    assert "alice\\x00alice\\x00***" in caplog.text
