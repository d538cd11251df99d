"""Apache Kafka, single-node KRaft, run from its own jars resolved from Maven Central.

Two client listeners: PLAINTEXT on ``stack_kafka_port`` and SASL_SSL on ``stack_kafka_sasl_ssl_port``
(certificates and a SCRAM-SHA-512 user generated on first start, see :mod:`ascolto.stack.kafka_security`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from pathlib import Path

from kafka import KafkaAdminClient

from ascolto.stack.cluster_id import random_cluster_id
from ascolto.stack.kafka_security import SCRAM_MECHANISM, BrokerSecurity, SaslSslAccess
from ascolto.stack.process import port_in_use
from ascolto.stack.service import DEPLOY_LOCAL, LocalService
from ascolto.stack.tools import DEPENDENCY_PLUGIN, java_home, run_maven
from core.errors import StackError
from core.kafka_config import KafkaConnection
from core.settings import Settings


class LocalKafka(LocalService):
    name = "kafka"
    marker = "kafka.Kafka"

    @property
    def version(self) -> str:
        return self.settings.stack_kafka_version

    @property
    def ports(self) -> list[int]:
        s = self.settings
        return [s.stack_kafka_port, s.stack_kafka_controller_port, s.stack_kafka_sasl_ssl_port]

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.settings.stack_kafka_port}"

    @property
    def sasl_ssl_endpoint(self) -> str:
        return f"127.0.0.1:{self.settings.stack_kafka_sasl_ssl_port}"

    @property
    def security(self) -> BrokerSecurity:
        return BrokerSecurity(self.home)

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def _scram_marker(self) -> Path:
        # Inside the data dir: storage formatted anew loses its users, and this marker with it.
        return self.data / ".ascolto-scram-user"

    def sasl_ssl_access(self) -> SaslSslAccess:
        """Address, CA file and SCRAM-SHA-512 user of the SASL_SSL listener (made by ``stack up``)."""
        security = self.security
        if not (security.ca_pem.exists() and security.user_file.exists()):
            raise StackError(
                f"The local Kafka's SASL_SSL material is not in {security.dir} yet: run `ascolto stack up`."
            )
        name, password = security.user()
        return SaslSslAccess(self.sasl_ssl_endpoint, security.ca_pem, name, password)

    @property
    def libs(self) -> Path:
        return self.home / f"dist-{self.version}" / "libs"

    @property
    def server_log(self) -> Path:
        return self.home / "logs" / "server.log"

    def provision(self) -> None:
        done = self.libs / ".complete"
        if done.exists():
            return
        run_maven(
            [
                "-q",
                "-f",
                str(DEPLOY_LOCAL / "kafka" / "pom.xml"),
                f"{DEPENDENCY_PLUGIN}:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={self.libs}",
                f"-Dkafka.version={self.version}",
            ],
            self.home / "provision.log",
            f"Apache Kafka {self.version}",
            java_home(),
        )
        done.touch()

    def _java(self, main: str, *args: str, heap: str | None = None) -> list[str]:
        java = java_home() / "bin" / "java"
        opts = [f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC"] if heap else ["-Xmx256m"]
        return [
            str(java),
            *opts,
            f"-Dlog4j.configuration=file:{DEPLOY_LOCAL / 'kafka' / 'log4j.properties'}",
            f"-Dkafka.logs.dir={self.home / 'logs'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def launch(self) -> None:
        data = self.data
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        security = self.security
        security.ensure()
        user, password = security.user()
        config = self.home / "server.properties"
        template = (DEPLOY_LOCAL / "kafka" / "server.properties").read_text()
        rendered = template.format(
            port=self.settings.stack_kafka_port,
            controller_port=self.settings.stack_kafka_controller_port,
            sasl_ssl_port=self.settings.stack_kafka_sasl_ssl_port,
            sasl_user=user,
            sasl_password=password.get_secret_value(),
            keystore=security.keystore,
            keystore_password=security.store_password(),
            data_dir=data,
            max_message_bytes=self.settings.max_message_bytes,
        )
        # It holds the keystore and PLAIN passwords: readable by its owner only.
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.chmod(config, 0o600)  # an older ascolto created it world-readable
        with os.fdopen(fd, "w") as out:
            out.write(rendered)
        if not (data / "meta.properties").exists():
            self._format(config, user, password.get_secret_value())
        self.process.start(
            self._java("kafka.Kafka", str(config), heap=self.settings.stack_kafka_heap),
            env=dict(os.environ),
            cwd=self.home,
        )

    def _format(self, config: Path, user: str, password: str) -> None:
        """Format the KRaft storage with the SCRAM user already in the cluster metadata."""
        cluster_id = random_cluster_id()
        scram = f"{SCRAM_MECHANISM}=[name={user},password={password}]"
        fmt = subprocess.run(
            self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config), "-g", "-S", scram),
            capture_output=True,
            text=True,
            check=False,
        )
        if fmt.returncode != 0:
            detail = (fmt.stderr.strip() or fmt.stdout.strip()).replace(password, "***")
            raise StackError(f"Could not format Kafka storage in {self.data}: {detail}")
        self._scram_marker.write_text(self.security.user_digest() + "\n")

    def wait_ready(self) -> None:
        """Ready when both client listeners answer: PLAINTEXT, then SASL_SSL as the SCRAM user."""
        super().wait_ready()
        if not port_in_use(self.settings.stack_kafka_sasl_ssl_port):
            raise StackError(
                f"The running local Kafka has no SASL_SSL listener on port {self.settings.stack_kafka_sasl_ssl_port} "
                "(an older ascolto started it): restart it with "
                "`ascolto stack down --only kafka && ascolto stack up --only kafka`."
            )
        self._ensure_scram_user()
        access = self.sasl_ssl_access().connection()
        deadline = time.monotonic() + self.settings.stack_timeout
        while not _answers(access):
            if time.monotonic() > deadline:
                raise StackError(
                    f"The local Kafka's SASL_SSL listener at {self.sasl_ssl_endpoint} did not accept the "
                    f"{SCRAM_MECHANISM} user within {self.settings.stack_timeout:.0f}s; see {self.server_log}."
                )
            time.sleep(0.5)

    def _ensure_scram_user(self) -> None:
        """Storage formatted by an older ascolto (or a changed password) gets the user with kafka-configs."""
        security = self.security
        digest = security.user_digest()
        marker = self._scram_marker
        if marker.exists() and marker.read_text().strip() == digest:
            return
        user, password = security.user()
        # The password goes through a private file, not the command line.
        request = security.dir / "scram-user.properties"
        fd = os.open(request, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            # As a properties file: the value is what `--add-config` takes inside its brackets.
            out.write(f"{SCRAM_MECHANISM}=password={password.get_secret_value()}\n")
        try:
            command = self._java(
                "kafka.admin.ConfigCommand", "--bootstrap-server", self.endpoint, "--alter",
                "--entity-type", "users", "--entity-name", user, "--add-config-file", str(request),
            )  # fmt: skip
            done = subprocess.run(
                command,
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            request.unlink(missing_ok=True)
        if done.returncode != 0:
            detail = (done.stderr.strip() or done.stdout.strip()).replace(password.get_secret_value(), "***")
            raise StackError(f"Could not create the local Kafka's SCRAM user {user!r}: {detail}")
        marker.write_text(digest + "\n")

    def probe(self) -> bool:
        """A metadata request from a real client on the PLAINTEXT listener."""
        return _answers(KafkaConnection(brokers=(self.endpoint,)))


def sasl_ssl_access(settings: Settings) -> SaslSslAccess:
    """How to reach the local Kafka's SASL_SSL listener (for tests and for trying secured settings)."""
    return LocalKafka(settings).sasl_ssl_access()


def _answers(connection: KafkaConnection) -> bool:
    """True when the brokers answer a metadata request made with ``connection``."""
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    try:
        admin = KafkaAdminClient(**connection.for_kafka_python(), request_timeout_ms=3000)
    except Exception:
        return False
    try:
        admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        admin.close()
