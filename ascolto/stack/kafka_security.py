"""The local Kafka's SASL_SSL listener: a private CA, the broker's keystore and a SCRAM user.

Everything is generated on the first ``ascolto stack up`` into ``<stack dir>/kafka/security``
(readable by the owner only, never in git) with the JDK's ``keytool``, which the stack needs anyway.
:func:`sasl_ssl_access` tells clients and tests how to connect: address, CA file, user, password.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from ascolto.stack.tools import java_home
from core.errors import StackError
from core.kafka_config import KafkaConnection, SaslMechanism

SCRAM_MECHANISM: SaslMechanism = "SCRAM-SHA-512"
USER = "ascolto"
# The broker certificate names every way a local client may address it.
SUBJECT_ALT_NAMES = "dns:localhost,ip:127.0.0.1"
VALIDITY_DAYS = "3650"


@dataclass(frozen=True)
class SaslSslAccess:
    """How a client reaches the local SASL_SSL listener (SCRAM-SHA-512 over TLS, PLAIN also accepted)."""

    bootstrap: str
    ca_file: Path
    username: str
    password: SecretStr = field(repr=False)
    mechanism: SaslMechanism = SCRAM_MECHANISM

    def env(self) -> dict[str, str]:
        """The ``ASCOLTO_KAFKA_*`` variables that point ascolto at this listener."""
        return {
            "ASCOLTO_KAFKA_BROKERS": self.bootstrap,
            "ASCOLTO_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ASCOLTO_KAFKA_SASL_MECHANISM": self.mechanism,
            "ASCOLTO_KAFKA_USERNAME": self.username,
            "ASCOLTO_KAFKA_PASSWORD": self.password.get_secret_value(),
            "ASCOLTO_KAFKA_SSL_CAFILE": str(self.ca_file),
        }

    def connection(self) -> KafkaConnection:
        return KafkaConnection(
            brokers=(self.bootstrap,),
            security_protocol="SASL_SSL",
            sasl_mechanism=self.mechanism,
            username=self.username,
            password=self.password,
            ssl_cafile=self.ca_file,
        )


class BrokerSecurity:
    """The files behind the SASL_SSL listener, created when missing."""

    def __init__(self, kafka_home: Path) -> None:
        self.dir = kafka_home / "security"
        self.ca_store = self.dir / "ca.p12"
        self.ca_pem = self.dir / "ca.pem"
        self.keystore = self.dir / "broker.p12"
        self.store_password_file = self.dir / "store.password"
        self.user_file = self.dir / "user.json"

    # --- reading -------------------------------------------------------------------------------
    def store_password(self) -> str:
        return self.store_password_file.read_text().strip()

    def user(self) -> tuple[str, SecretStr]:
        data = json.loads(self.user_file.read_text())
        return str(data["username"]), SecretStr(str(data["password"]))

    def user_digest(self) -> str:
        """Identifies the current user and password without revealing the password (for a marker file)."""
        name, password = self.user()
        return hashlib.sha256(f"{SCRAM_MECHANISM}:{name}:{password.get_secret_value()}".encode()).hexdigest()

    # --- creating ------------------------------------------------------------------------------
    def ensure(self) -> None:
        """Create the CA, the broker keystore and the user where missing (each is kept once made)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o700)
        if not self.store_password_file.exists():
            _write_private(self.store_password_file, secrets.token_urlsafe(24))
        if not (self.ca_store.exists() and self.ca_pem.exists()):
            self.keystore.unlink(missing_ok=True)  # signed by the CA being replaced
            self._make_ca()
        if not self.keystore.exists():
            self._make_broker_keystore()
        if not self.user_file.exists():
            _write_private(self.user_file, json.dumps({"username": USER, "password": secrets.token_urlsafe(24)}))

    def _make_ca(self) -> None:
        for stale in (self.ca_store, self.ca_pem):
            stale.unlink(missing_ok=True)
        self._keytool(
            "-genkeypair", "-alias", "ca", "-keyalg", "RSA", "-keysize", "2048", "-validity", VALIDITY_DAYS,
            "-dname", "CN=ascolto local Kafka CA", "-ext", "bc:c", "-ext", "KU=keyCertSign,cRLSign",
            *self._store(self.ca_store),
        )  # fmt: skip
        os.chmod(self.ca_store, 0o600)  # holds the CA's private key
        self._keytool("-exportcert", "-rfc", "-alias", "ca", "-file", str(self.ca_pem), *self._store(self.ca_store))

    def _make_broker_keystore(self) -> None:
        partial = self.keystore.with_suffix(".partial")
        request, signed = self.dir / "broker.csr", self.dir / "broker.crt"
        partial.unlink(missing_ok=True)
        try:
            self._keytool(
                "-genkeypair", "-alias", "broker", "-keyalg", "RSA", "-keysize", "2048", "-validity", VALIDITY_DAYS,
                "-dname", "CN=localhost", "-ext", f"SAN={SUBJECT_ALT_NAMES}", *self._store(partial),
            )  # fmt: skip
            self._keytool("-certreq", "-alias", "broker", "-file", str(request), *self._store(partial))
            self._keytool(
                "-gencert", "-alias", "ca", "-rfc", "-infile", str(request), "-outfile", str(signed),
                "-validity", VALIDITY_DAYS, "-ext", f"SAN={SUBJECT_ALT_NAMES}",
                "-ext", "KU=digitalSignature,keyEncipherment", "-ext", "EKU=serverAuth", *self._store(self.ca_store),
            )  # fmt: skip
            # The chain: CA first (trusted), then the CA-signed reply replaces the self-signed certificate.
            self._keytool("-importcert", "-noprompt", "-alias", "ca", "-file", str(self.ca_pem), *self._store(partial))
            self._keytool("-importcert", "-alias", "broker", "-file", str(signed), *self._store(partial))
            os.chmod(partial, 0o600)
            partial.replace(self.keystore)
        finally:
            for temporary in (partial, request, signed):
                temporary.unlink(missing_ok=True)

    def _store(self, path: Path) -> list[str]:
        # The password goes by file, never on a command line other users can read in `ps`.
        return ["-keystore", str(path), "-storetype", "PKCS12", "-storepass:file", str(self.store_password_file)]

    def _keytool(self, *args: str) -> None:
        keytool = java_home() / "bin" / "keytool"
        done = subprocess.run([str(keytool), *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise StackError(
                f"keytool could not create the local Kafka's TLS material in {self.dir} "
                f"({(done.stderr or done.stdout).strip()}): delete that folder and run `ascolto stack up` again."
            )


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, created with those permissions (no readable moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text + "\n")
