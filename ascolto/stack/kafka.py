"""Apache Kafka, single-node KRaft, run from its own jars resolved from Maven Central."""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from kafka import KafkaAdminClient

from ascolto.stack.cluster_id import random_cluster_id
from ascolto.stack.service import DEPLOY_LOCAL, LocalService
from ascolto.stack.tools import DEPENDENCY_PLUGIN, java_home, run_maven
from core.errors import StackError


class LocalKafka(LocalService):
    name = "kafka"
    marker = "kafka.Kafka"

    @property
    def version(self) -> str:
        return self.settings.stack_kafka_version

    @property
    def ports(self) -> list[int]:
        return [self.settings.stack_kafka_port, self.settings.stack_kafka_controller_port]

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.settings.stack_kafka_port}"

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
        data = self.home / "data"
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        config = self.home / "server.properties"
        template = (DEPLOY_LOCAL / "kafka" / "server.properties").read_text()
        config.write_text(
            template.format(
                port=self.settings.stack_kafka_port,
                controller_port=self.settings.stack_kafka_controller_port,
                data_dir=data,
                max_message_bytes=self.settings.max_message_bytes,
            )
        )
        if not (data / "meta.properties").exists():
            cluster_id = random_cluster_id()
            fmt = subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config), "-g"),
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise StackError(
                    f"Could not format Kafka storage in {data}: {fmt.stderr.strip() or fmt.stdout.strip()}"
                )
        self.process.start(
            self._java("kafka.Kafka", str(config), heap=self.settings.stack_kafka_heap),
            env=dict(os.environ),
            cwd=self.home,
        )

    def probe(self) -> bool:
        """A metadata request from a real client."""
        logging.getLogger("kafka").setLevel(logging.CRITICAL)
        try:
            admin = KafkaAdminClient(bootstrap_servers=self.endpoint, request_timeout_ms=3000)
        except Exception:
            return False
        try:
            admin.list_topics()
            return True
        except Exception:
            return False
        finally:
            admin.close()
