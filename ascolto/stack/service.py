"""What the local Kafka and Elasticsearch have in common: provision, start, wait until ready, stop."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from ascolto.resources import deploy_path
from ascolto.stack.process import ManagedProcess, port_in_use, tail
from core.errors import StackError
from core.settings import Settings

#: Server configuration templates and the Kafka pom (deploy/local in a checkout).
DEPLOY_LOCAL = deploy_path("local")


@dataclass(frozen=True)
class ServiceStatus:
    """One line of ``ascolto stack status``."""

    name: str
    version: str
    endpoint: str
    pid: int | None
    ready: bool
    log: Path


class LocalService(ABC):
    """A server of the embedded stack, run from artifacts cached under ``stack_dir``."""

    name: str
    marker: str

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.stack_dir / self.name
        self.process = ManagedProcess(self.name, self.home / "run", self.marker)

    # --- what each server defines ---------------------------------------------------------
    @property
    @abstractmethod
    def version(self) -> str: ...

    @property
    @abstractmethod
    def ports(self) -> list[int]: ...

    @property
    @abstractmethod
    def endpoint(self) -> str: ...

    @property
    @abstractmethod
    def server_log(self) -> Path: ...

    @abstractmethod
    def provision(self) -> None:
        """Download and unpack the server once (idempotent)."""

    @abstractmethod
    def launch(self) -> None:
        """Prepare configuration and start the process in the background."""

    @abstractmethod
    def probe(self) -> bool:
        """One real readiness request; True when the server answers it."""

    # --- shared lifecycle -------------------------------------------------------------------
    def ensure_started(self) -> bool:
        """Start unless already running (without waiting). Returns True if it was started now."""
        if self.process.pid() is not None:
            return False
        for port in self.ports:
            if port_in_use(port):
                raise StackError(
                    f"Port {port} needed by the local {self.name} is taken by another program: "
                    f"stop that program or choose other ports with ASCOLTO_STACK_* settings."
                )
        self.provision()
        self.launch()
        return True

    def wait_ready(self) -> None:
        deadline = time.monotonic() + self.settings.stack_timeout
        while time.monotonic() < deadline:
            if self.probe():
                return
            if self.process.exited():
                raise StackError(
                    f"The local {self.name} exited during start-up; see {self.server_log} "
                    f"(last lines:\n{tail(self.server_log) or tail(self.process.log_file)})"
                )
            time.sleep(0.5)
        raise StackError(
            f"The local {self.name} did not become ready within {self.settings.stack_timeout:.0f}s; "
            f"see {self.server_log} or raise ASCOLTO_STACK_TIMEOUT."
        )

    def down(self) -> bool:
        """Stop the server; returns once its ports are free again, so an ``up`` can follow at once."""
        was_running = self.process.stop()
        deadline = time.monotonic() + 60
        # The launcher can exit before the server JVM it started has released its sockets.
        while any(port_in_use(p) for p in self.ports) and time.monotonic() < deadline:
            time.sleep(0.2)
        return was_running

    def status(self) -> ServiceStatus:
        pid = self.process.pid()
        return ServiceStatus(
            self.name, self.version, self.endpoint, pid, pid is not None and self.probe(), self.server_log
        )
