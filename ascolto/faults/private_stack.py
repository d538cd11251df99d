"""A second embedded Kafka + Elasticsearch under its own home, on free ports, so that servers can be
SIGKILLed or SIGSTOPped without touching the stack everyone else uses."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import psutil

from ascolto import launcher
from ascolto.stack import LocalStack
from ascolto.stack.process import port_in_use
from ascolto.testing import LocalPipeline, free_port, wait_for

SERVERS = ("kafka", "elasticsearch")


# --- the private stack -------------------------------------------------------------------------
class PrivateStack:
    """``ascolto stack up`` under ``home`` on ports of its own: servers a test may kill or freeze.

    The settings it runs with are in :attr:`env` (``ASCOLTO_*`` variables), what a pipeline needs
    to use it in :attr:`overrides`.
    """

    def __init__(self, home: Path, *, es_heap: str = "512m", kafka_heap: str = "512m") -> None:
        self.home = home
        ports = [free_port() for _ in range(5)]
        self.stack_overrides: dict[str, str] = {
            "home": str(home),
            "stack_kafka_port": str(ports[0]),
            "stack_kafka_controller_port": str(ports[1]),
            "stack_kafka_sasl_ssl_port": str(ports[2]),
            "stack_es_port": str(ports[3]),
            "stack_es_transport_port": str(ports[4]),
            "stack_es_heap": es_heap,
            "stack_kafka_heap": kafka_heap,
        }
        self.env = launcher.child_env(self.stack_overrides)
        self.settings = launcher.settings_of(self.env)
        # What a pipeline sets to talk to this stack (its other settings stay its own).
        self.overrides = {"kafka_brokers": self.settings.kafka_brokers, "es_url": self.settings.es_url}
        self.frozen: set[str] = set()

    @classmethod
    def in_temp_dir(cls, **kwargs: str) -> PrivateStack:
        """A private stack in a fresh temporary home, readable by Elasticsearch's unprivileged user."""
        home = Path(tempfile.mkdtemp(prefix="ascolto-faults-"))
        home.chmod(0o755)  # as root, Elasticsearch runs as another user and must reach its files
        return cls(home, **kwargs)

    @classmethod
    def started(cls, attempts: int = 3, **kwargs: str) -> tuple[PrivateStack, float]:
        """A private stack in a fresh temporary home, up and ready, and the seconds that took.

        The ports are free when chosen, not reserved: if another program takes one before the
        servers bind it, the stack is started again elsewhere on new ports.
        """
        for attempt in range(1, attempts + 1):
            stack = cls.in_temp_dir(**kwargs)
            try:
                return stack, stack.up()
            except RuntimeError as exc:
                stack.down()
                stack.remove()
                if "is taken" not in str(exc) or attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _stack(self) -> LocalStack:
        return LocalStack(self.settings)

    def up(self, only: str | None = None, timeout: float = 600) -> float:
        """Start (what is not running) and wait until ready; the seconds it took."""
        started = time.monotonic()
        result = launcher.run(["stack", "up", *(["--only", only] if only else [])], env=self.env, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"the private stack did not come up: {(result.stderr or result.stdout).strip()}")
        return time.monotonic() - started

    def down(self) -> None:
        for name in SERVERS:
            self.thaw(name)
        launcher.run(["stack", "down"], env=self.env, timeout=300)

    def remove(self) -> None:
        """Delete the home (and Elasticsearch's, when it had to live elsewhere); the stack must be down."""
        es_home = self._stack().elasticsearch.home
        shutil.rmtree(self.home, ignore_errors=True)
        if not es_home.is_relative_to(self.home):
            shutil.rmtree(es_home, ignore_errors=True)

    def pid(self, name: str) -> int:
        pid = self._stack().service(name).process.pid()
        if pid is None:
            raise AssertionError(f"the private {name} is not running")
        return pid

    def ports(self, name: str) -> list[int]:
        return list(self._stack().service(name).ports)

    def _signal(self, name: str, sig: signal.Signals) -> int:
        # The whole process group: Elasticsearch's launcher JVM starts the server JVM as its child.
        pid = self.pid(name)
        os.killpg(pid, sig)
        return pid

    def kill(self, name: str) -> None:
        """SIGKILL the server and wait until it is gone and its ports are free."""
        self.frozen.discard(name)
        pid = self._signal(name, signal.SIGKILL)
        group = [p for p in psutil.process_iter(["pid"]) if _pgid(p.pid) == pid]
        psutil.wait_procs(group, timeout=30)
        wait_for(
            lambda: not any(port_in_use(p) for p in self.ports(name)), timeout=30, what=f"{name}'s ports to be freed"
        )

    def freeze(self, name: str) -> None:
        """SIGSTOP the server: it keeps its connections open and answers nothing."""
        self._signal(name, signal.SIGSTOP)
        self.frozen.add(name)

    def thaw(self, name: str) -> None:
        if name in self.frozen:
            self._signal(name, signal.SIGCONT)
            self.frozen.discard(name)

    def heal(self) -> None:
        """Undo whatever a scenario left: thaw frozen servers, start killed ones."""
        for name in SERVERS:
            self.thaw(name)
        self.up()

    def pipeline(self, workdir: Path | None = None, **settings: str) -> LocalPipeline:
        """A LocalPipeline (own topics, index, group) on this stack."""
        return LocalPipeline(workdir, **{**self.overrides, **settings})


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None
