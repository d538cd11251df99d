"""The one Kafka connection configuration, rendered for each of the three clients ascolto uses.

kafka-python (connectors, topic creation, the stack probe, test helpers), aiokafka (the index
consumer) and Faust (the worker) spell security differently; all three are built from
:class:`KafkaConnection`, so one set of ``ASCOLTO_KAFKA_*`` variables means the same TLS and SASL
for every client. TLS goes through one :class:`ssl.SSLContext` shared by all renderings.
"""

from __future__ import annotations

import logging
import ssl
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import faust
from pydantic import SecretStr

from core.errors import ConfigError
from core.settings import Settings

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
SECURITY_PROTOCOLS: tuple[str, ...] = get_args(SecurityProtocol)
SASL_MECHANISMS: tuple[str, ...] = get_args(SaslMechanism)


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to authenticate to them, validated once.

    Build it with :meth:`from_settings` (or the constructor, which validates too); the password is a
    :class:`SecretStr` and is left out of ``repr``/``str``.
    """

    brokers: tuple[str, ...]
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = field(default=None, repr=False)
    ssl_check_hostname: bool = True
    ssl_context: ssl.SSLContext | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._validate()
        for secret in (self.password, self.ssl_key_password):
            if secret is not None:
                hide_in_logs(secret.get_secret_value())
        if self.uses_tls:
            # Frozen dataclass: the derived context is set once, here.
            object.__setattr__(self, "ssl_context", self._build_ssl_context())

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaConnection:
        """The connection described by ``ASCOLTO_KAFKA_*``; a mis-configuration raises one ConfigError."""
        return cls(
            brokers=tuple(settings.broker_list),
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_username,
            password=settings.kafka_password,
            ssl_cafile=settings.kafka_ssl_cafile,
            ssl_certfile=settings.kafka_ssl_certfile,
            ssl_keyfile=settings.kafka_ssl_keyfile,
            ssl_key_password=settings.kafka_ssl_key_password,
            ssl_check_hostname=settings.kafka_ssl_check_hostname,
        )

    # --- what the protocol implies -----------------------------------------------------------
    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    def __str__(self) -> str:
        who = f" as {self.username} ({self.sasl_mechanism})" if self.uses_sasl else ""
        return f"Kafka {','.join(self.brokers)} over {self.security_protocol}{who}"

    # --- renderings ----------------------------------------------------------------------------
    def for_kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for any kafka-python client (producer, consumer, admin)."""
        return {"bootstrap_servers": list(self.brokers), **self._security_kwargs()}

    def for_aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for ``AIOKafkaConsumer``/``AIOKafkaProducer`` (aiokafka needs the SSL context)."""
        return {"bootstrap_servers": list(self.brokers), **self._security_kwargs()}

    def for_faust(self) -> faust.SASLCredentials | faust.SSLCredentials | None:
        """``broker_credentials`` for ``faust.App``: Faust derives the protocol from the object's type
        and whether it carries an SSL context, so each protocol needs its own shape."""
        if self.uses_sasl:
            return faust.SASLCredentials(
                username=self.username,
                password=self._password(),
                mechanism=self.sasl_mechanism,
                ssl_context=self.ssl_context,  # None → SASL_PLAINTEXT, a context → SASL_SSL
            )
        if self.ssl_context is not None:
            return faust.SSLCredentials(self.ssl_context)
        return None

    def faust_brokers(self) -> list[str]:
        return [f"kafka://{b}" for b in self.brokers]

    def _security_kwargs(self) -> dict[str, Any]:
        # kafka-python and aiokafka share these names; both take a ready SSL context, which keeps
        # certificate handling (CA, client certificate, host-name check) identical between them.
        kwargs: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.ssl_context is not None:
            kwargs["ssl_context"] = self.ssl_context
        if self.uses_sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.username
            kwargs["sasl_plain_password"] = self._password()
        return kwargs

    def _password(self) -> str | None:
        return self.password.get_secret_value() if self.password is not None else None

    # --- validation ----------------------------------------------------------------------------
    def _validate(self) -> None:
        if not self.brokers:
            raise ConfigError("ASCOLTO_KAFKA_BROKERS is empty: set it to a comma-separated host:port list.")
        if self.security_protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"ASCOLTO_KAFKA_SECURITY_PROTOCOL={self.security_protocol} is not one of "
                f"{', '.join(SECURITY_PROTOCOLS)}: choose one of them."
            )
        protocol = f"ASCOLTO_KAFKA_SECURITY_PROTOCOL={self.security_protocol}"
        if self.uses_sasl:
            missing = [
                name
                for name, value in (
                    ("ASCOLTO_KAFKA_SASL_MECHANISM", self.sasl_mechanism),
                    ("ASCOLTO_KAFKA_USERNAME", self.username),
                    ("ASCOLTO_KAFKA_PASSWORD", self._password()),
                )
                if not value
            ]
            if missing:
                raise ConfigError(
                    f"{protocol} needs {' and '.join(missing)}: set them, or choose a protocol without SASL."
                )
            if self.sasl_mechanism not in SASL_MECHANISMS:
                raise ConfigError(
                    f"ASCOLTO_KAFKA_SASL_MECHANISM={self.sasl_mechanism} is not supported: "
                    f"choose one of {', '.join(SASL_MECHANISMS)}."
                )
        elif self.sasl_mechanism:
            raise ConfigError(
                f"ASCOLTO_KAFKA_SASL_MECHANISM is set but {protocol} does not use SASL: "
                "choose SASL_PLAINTEXT or SASL_SSL, or unset the mechanism."
            )
        tls_files = [
            (name, path)
            for name, path in (
                ("ASCOLTO_KAFKA_SSL_CAFILE", self.ssl_cafile),
                ("ASCOLTO_KAFKA_SSL_CERTFILE", self.ssl_certfile),
                ("ASCOLTO_KAFKA_SSL_KEYFILE", self.ssl_keyfile),
            )
            if path is not None
        ]
        if tls_files and not self.uses_tls:
            raise ConfigError(
                f"{tls_files[0][0]} is set but {protocol} does not use TLS: choose SSL or SASL_SSL, or unset it."
            )
        for name, path in tls_files:
            if not path.is_file():
                raise ConfigError(f"{name} points to {path}, which is not a file: fix the path or unset it.")
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ConfigError(
                "ASCOLTO_KAFKA_SSL_KEYFILE needs ASCOLTO_KAFKA_SSL_CERTFILE (the client certificate): "
                "set both or neither."
            )

    def _build_ssl_context(self) -> ssl.SSLContext:
        # Server authentication always on; the CA file replaces the system trust store when given.
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
        context.check_hostname = self.ssl_check_hostname
        if self.ssl_cafile is not None:
            try:
                context.load_verify_locations(cafile=str(self.ssl_cafile))
            except (ssl.SSLError, ValueError):
                raise ConfigError(
                    f"ASCOLTO_KAFKA_SSL_CAFILE {self.ssl_cafile} holds no PEM certificate: "
                    "point it at the CA's PEM file."
                ) from None
        if self.ssl_certfile is not None:
            key_password = self.ssl_key_password.get_secret_value() if self.ssl_key_password else ""
            try:
                # A callable, so an encrypted key without a password fails instead of prompting on the tty.
                context.load_cert_chain(
                    str(self.ssl_certfile),
                    str(self.ssl_keyfile) if self.ssl_keyfile else None,
                    password=lambda: key_password,
                )
            except (ssl.SSLError, ValueError):
                raise ConfigError(
                    f"Cannot load the client certificate {self.ssl_certfile} with its key: check "
                    "ASCOLTO_KAFKA_SSL_CERTFILE/ASCOLTO_KAFKA_SSL_KEYFILE (PEM) and, for an encrypted key, "
                    "ASCOLTO_KAFKA_SSL_KEY_PASSWORD."
                ) from None
        return context


_hidden: set[str] = set()
_hidden_lock = threading.Lock()


def hide_in_logs(secret: str) -> None:
    """Mask ``secret`` as ``***`` in every log record this process creates from now on.

    Client libraries log their wire traffic at debug level, and a SASL PLAIN login carries the
    password in clear (aiokafka prints it in ``SaslAuthenticateRequest``): masking at record
    creation covers every library and handler without knowing their logger names.
    """
    if not secret:
        return
    with _hidden_lock:
        if not _hidden:
            logging.setLogRecordFactory(_masking(logging.getLogRecordFactory()))
        # Also the form it takes inside a logged ``bytes`` repr (escaped non-ASCII characters).
        _hidden.update({secret, repr(secret.encode())[2:-1]})


def _masking(make_record: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = make_record(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it for logging's own error report
            return record
        if any(secret in message for secret in _hidden):
            for secret in sorted(_hidden, key=len, reverse=True):
                message = message.replace(secret, "***")
            record.msg, record.args = message, ()  # () not None: some formatters wrap None into (None,)
        return record

    return factory
