"""Starting ``ascolto worker`` and ``ascolto connect ...`` as processes: the one place that does it.

Two ways, sharing the command line, the environment and the readiness check:

* :class:`ChildProcess`: a child of this process with its output in a log file (tests, benches);
* :class:`BackgroundWorker`: a worker detached from the terminal, found again through a pid file
  under ``<stack_dir>/worker`` (``ascolto demo`` starts it, ``ascolto stack status|down`` see it).

Several worker processes on one machine are ``ascolto worker --processes N``: a supervisor
(:mod:`ascolto.supervisor`) whose children use ports ``ASCOLTO_WEB_PORT + i`` and
``ASCOLTO_METRICS_PORT + i``; :func:`readiness_urls` names what each answers.

A worker is *ready* when its HTTP API (``/api/stats``) or, without one, its ``/metrics`` endpoint
answers: a real request, not a guess about how long start-up takes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from ascolto.stack.process import ManagedProcess, tail
from core.errors import AscoltoError
from core.settings import Settings
from web.addresses import local_host

#: How long a worker may take to answer after it was started.
READY_TIMEOUT = 120.0


def ascolto_command(*args: str) -> list[str]:
    """``ascolto ARGS`` with this interpreter (works in a venv that is not activated)."""
    return [sys.executable, "-m", "ascolto", *args]


def settings_env(overrides: Mapping[str, object]) -> dict[str, str]:
    """``{"web_port": 0}`` → ``{"ASCOLTO_WEB_PORT": "0"}``."""
    return {f"ASCOLTO_{name.upper()}": str(value) for name, value in overrides.items()}


def child_env(overrides: Mapping[str, object] | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for an ascolto child: ``base`` (this process's), settings ``overrides`` on top,
    and this process's ``sys.path`` as PYTHONPATH, so that the child imports what we can (a plugin
    under test, for one)."""
    env = dict(os.environ if base is None else base)
    env.update(settings_env(overrides or {}))
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return env


def readiness_url(settings: Settings) -> str:
    """What answers once a worker with these settings runs: its API, else its /metrics."""
    if settings.web_port:
        return f"http://{local_host(settings.web_bind)}:{settings.web_port}/api/stats"
    if settings.metrics_port:
        host = "127.0.0.1" if settings.metrics_bind in ("0.0.0.0", "") else settings.metrics_bind
        return f"http://{host}:{settings.metrics_port}/metrics"
    raise AscoltoError(
        "A worker with ASCOLTO_WEB_PORT=0 and ASCOLTO_METRICS_PORT=0 cannot be checked for readiness; enable one."
    )


def readiness_urls(settings: Settings, processes: int = 1) -> list[str]:
    """What answers once each of ``processes`` workers (``ascolto worker --processes N``) runs."""
    first = readiness_url(settings)
    if processes == 1:
        return [first]
    web, metrics = settings.web_port, settings.metrics_port
    # Process i uses the ports after the configured ones; a port of 0 stays disabled.
    shifted = [{"web_port": web and web + i, "metrics_port": metrics and metrics + i} for i in range(processes)]
    return [readiness_url(settings.model_copy(update=ports)) for ports in shifted]


def settings_of(env: Mapping[str, str]) -> Settings:
    """The settings a child started with ``env`` will read."""
    prefix = "ASCOLTO_"
    values: dict[str, Any] = {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
    return Settings(**values)


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when an HTTP server answers ``url`` at all (an error status is an answer too)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False


def wait_answering(url: str, *, alive: Callable[[], bool], log_file: Path, what: str, timeout: float) -> None:
    """Poll ``url`` until it answers; one clear error if the process dies or the deadline passes."""
    deadline = time.monotonic() + timeout
    while not answers(url):
        if not alive():
            raise AscoltoError(f"The {what} stopped during start-up; see its log {log_file}:\n{tail(log_file)}")
        if time.monotonic() > deadline:
            raise AscoltoError(f"The {what} did not answer {url} within {timeout:.0f}s; see its log {log_file}.")
        time.sleep(0.2)


class ChildProcess:
    """``ascolto ARGS`` as a child of this process, stdout and stderr in ``log_file``."""

    def __init__(self, args: Sequence[str], *, env: Mapping[str, str], log_file: Path) -> None:
        self.args = list(args)
        self.env = dict(env)
        self.log_file = log_file
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> ChildProcess:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self.popen = subprocess.Popen(
                ascolto_command(*self.args), env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
        return self

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError("not started")
        return self.popen.pid

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait(self, timeout: float | None = None) -> int:
        """Wait until it exits by itself; its exit code."""
        if self.popen is None:
            raise RuntimeError("not started")
        return self.popen.wait(timeout=timeout)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (a worker then commits and closes cleanly), SIGKILL after ``timeout``."""
        if not self.running():
            return
        assert self.popen is not None
        self.popen.terminate()
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_file.read_text(errors="replace")[-chars:] if self.log_file.exists() else ""


def start_worker(
    overrides: Mapping[str, object], *, log_file: Path, env: Mapping[str, str] | None = None, wait: bool = True
) -> ChildProcess:
    """Start ``ascolto worker`` with these settings overrides as a child; by default, wait until it answers.

    ``env`` is the base environment (this process's by default); ``overrides`` win over it.
    """
    child = child_env(overrides, env)
    url = readiness_url(settings_of(child))
    worker = ChildProcess(["worker"], env=child, log_file=log_file).start()
    if wait:
        try:
            wait_answering(url, alive=worker.running, log_file=log_file, what="worker", timeout=READY_TIMEOUT)
        except AscoltoError:
            worker.stop()
            raise
    return worker


def run(args: Sequence[str], *, env: Mapping[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``ascolto ARGS`` to completion, output captured (a CLI command in a test, say)."""
    return subprocess.run(ascolto_command(*args), env=dict(env), capture_output=True, text=True, timeout=timeout)


@dataclass(frozen=True)
class WorkerStatus:
    """The background worker as ``ascolto stack status`` shows it."""

    pid: int | None
    web_port: int
    metrics_port: int
    log: Path
    ready: bool
    processes: int = 1  # worker processes under that pid (ports web_port + i, metrics_port + i)


class BackgroundWorker:
    """A worker detached from the terminal (``ascolto demo``), tracked by a pid file in ``<stack_dir>/worker``.

    The ports it was started with are kept beside the pid file, so that ``ascolto stack status``
    reports them even when run with other settings. With ``processes`` > 1 the pid is the
    supervisor's (``ascolto worker --processes N``), and stopping it stops its children.
    """

    def __init__(self, settings: Settings, processes: int = 1) -> None:
        self.settings = settings
        self.processes = processes
        self.process = ManagedProcess("worker", settings.stack_dir / "worker", marker="ascolto worker")

    @property
    def log_file(self) -> Path:
        return self.process.log_file

    @property
    def _state_file(self) -> Path:
        return self.process.run_dir / "worker.json"

    def pid(self) -> int | None:
        return self.process.pid()

    def exited(self) -> bool:
        return self.process.exited()

    def start(self, env: Mapping[str, str] | None = None, *, wait: bool = True) -> bool:
        """Start unless one runs (then False); by default wait until it answers."""
        if self.pid() is not None:
            return False
        urls = readiness_urls(self.settings, self.processes)
        args = ["worker", "--processes", str(self.processes)] if self.processes > 1 else ["worker"]
        self.process.start(ascolto_command(*args), env=child_env(None, env), cwd=self.settings.stack_dir)
        self._state_file.write_bytes(
            orjson.dumps(
                {
                    "web_port": self.settings.web_port,
                    "metrics_port": self.settings.metrics_port,
                    "processes": self.processes,
                }
            )
        )
        if wait:
            try:
                for url in urls:
                    wait_answering(
                        url,
                        alive=lambda: not self.exited(),
                        log_file=self.log_file,
                        what="worker",
                        timeout=READY_TIMEOUT,
                    )
            except AscoltoError:
                self.stop()
                raise
        return True

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop it; False when none was running."""
        stopped = self.process.stop(timeout=timeout)
        self._state_file.unlink(missing_ok=True)
        return stopped

    def status(self) -> WorkerStatus:
        pid = self.pid()
        try:
            ports = orjson.loads(self._state_file.read_bytes())
            web, metrics = int(ports["web_port"]), int(ports["metrics_port"])
            processes = int(ports.get("processes", 1))
        except (OSError, ValueError, KeyError, TypeError):
            web, metrics, processes = self.settings.web_port, self.settings.metrics_port, self.processes
        try:
            url: str | None = readiness_url(self.settings.model_copy(update={"web_port": web, "metrics_port": metrics}))
        except AscoltoError:
            url = None  # neither port enabled: nothing to ask
        ready = pid is not None and url is not None and answers(url)
        return WorkerStatus(pid, web, metrics, self.log_file, ready, processes)
