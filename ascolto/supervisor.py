"""``ascolto worker --processes N``: N worker processes in one consumer group, kept running.

The supervisor is a plain parent process, not a worker: it starts N children ``ascolto worker``
(each a full worker: enrich agent in group ``<app id>``, index consumer in ``<app id>-index``,
API, /metrics), and Kafka's group protocol shares the partitions among them. Each child gets:

* its own ports: process ``i`` (from 0) serves its API on ``ASCOLTO_WEB_PORT + i`` and its
  /metrics on ``ASCOLTO_METRICS_PORT + i`` (a port of 0 stays 0, disabled). Per-process ports
  rather than prometheus-client's multiprocess mode: Prometheus scrapes each process as its own
  target, exactly as it does workers on other machines, and nothing is shared through files;
* its own Faust data directory, ``ASCOLTO_DATA_DIR/process-<i>``.

Children's output is relayed to the supervisor's stderr, each line prefixed ``[worker i]``.
SIGTERM or SIGINT is forwarded to every child as SIGTERM, and each commits and closes cleanly
(a child that also got the signal from its process group, as with Ctrl-C, stops once). A child
that dies is started again after a back-off that doubles while it keeps dying young; one that
dies before it ever answered, several times in a row, stops the supervisor with one sentence.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO

from ascolto.launcher import answers, ascolto_command, child_env, readiness_url
from core.errors import AscoltoError, ConfigError
from core.kafka import ensure_topics
from core.settings import Settings
from streams.enrichers.chain import chain_from_settings
from web.access import required_token

#: How long children get to commit and close after SIGTERM before they are killed.
STOP_TIMEOUT = 60.0


@dataclass(frozen=True)
class Slot:
    """One worker process's place: its number and what sets it apart from its siblings."""

    index: int
    web_port: int
    metrics_port: int
    data_dir: Path

    @property
    def name(self) -> str:
        return f"worker {self.index}"

    def overrides(self) -> dict[str, object]:
        """Settings of this child (``worker_processes=1``: a child never supervises in turn)."""
        return {
            "worker_processes": 1,
            "web_port": self.web_port,
            "metrics_port": self.metrics_port,
            "data_dir": self.data_dir,
        }

    def where(self) -> str:
        parts = [
            f"API :{self.web_port}" if self.web_port else "",
            f"metrics :{self.metrics_port}" if self.metrics_port else "",
        ]
        return ", ".join(p for p in parts if p) or "no ports"


def plan(settings: Settings, processes: int) -> list[Slot]:
    """The N slots: consecutive ports from the configured ones, one data directory each."""
    if processes < 1:
        raise ConfigError("The number of worker processes must be at least 1; pass --processes 1 or more.")

    def ports(base: int, variable: str) -> range:
        if not base:
            return range(0)
        if base + processes - 1 > 65535:
            raise ConfigError(
                f"{variable}={base} leaves no room for {processes} worker processes "
                f"(ports {base}..{base + processes - 1}); choose a lower {variable}."
            )
        return range(base, base + processes)

    web = ports(settings.web_port, "ASCOLTO_WEB_PORT")
    metrics = ports(settings.metrics_port, "ASCOLTO_METRICS_PORT")
    if set(web) & set(metrics):
        raise ConfigError(
            f"With {processes} worker processes the API ports {web.start}..{web.stop - 1} and the metrics ports "
            f"{metrics.start}..{metrics.stop - 1} overlap; move ASCOLTO_WEB_PORT or ASCOLTO_METRICS_PORT apart."
        )
    return [
        Slot(
            index=i,
            web_port=web[i] if web else 0,
            metrics_port=metrics[i] if metrics else 0,
            data_dir=settings.data_dir / f"process-{i}",
        )
        for i in range(processes)
    ]


@dataclass
class RestartPolicy:
    """When to start a dead child again, and when to give up.

    The delay doubles from ``first_delay`` up to ``max_delay`` while the child keeps dying within
    ``stable_seconds`` of its start; a child that ran longer than that starts again after
    ``first_delay``. ``start_failures`` deaths in a row before the child ever answered mean it
    cannot start (a configuration or a server problem), and restarting would only repeat that.
    """

    first_delay: float = 1.0
    max_delay: float = 30.0
    stable_seconds: float = 60.0
    start_failures: int = 3


@dataclass
class _Child:
    slot: Slot
    popen: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    ready: bool = False
    restart_at: float = 0.0
    quick_deaths: int = 0  # in a row, within stable_seconds of a start
    failed_starts: int = 0  # in a row, before answering
    relay: threading.Thread | None = field(default=None, repr=False)


def describe_exit(code: int) -> str:
    """``-9`` → ``killed by SIGKILL``; ``1`` → ``exited with code 1``."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Supervisor:
    """Runs the slots' children until :meth:`stop` (or SIGTERM/SIGINT with :meth:`run`'s handlers).

    ``command`` and ``is_ready`` are what tests replace: by default a child is ``ascolto worker``
    with the slot's settings, ready once its API (else its /metrics) answers.
    """

    def __init__(
        self,
        settings: Settings,
        slots: Sequence[Slot],
        *,
        log_level: str | None = None,
        policy: RestartPolicy | None = None,
        command: Callable[[Slot], list[str]] | None = None,
        is_ready: Callable[[Slot], bool] | None = None,
        out: IO[str] | None = None,
        stop_timeout: float = STOP_TIMEOUT,
    ) -> None:
        self.settings = settings
        self.children = [_Child(slot) for slot in slots]
        self.policy = policy or RestartPolicy()
        self.log_level = log_level
        self._command = command or self._worker_command
        self._is_ready = is_ready or self._answers
        self._out = out or sys.stderr
        self._write_lock = threading.Lock()
        self._stopping = threading.Event()
        self.stop_timeout = stop_timeout

    # --- the default child: ascolto worker ----------------------------------------------------
    def _worker_command(self, slot: Slot) -> list[str]:
        return ascolto_command("worker", *(["--log-level", self.log_level] if self.log_level else []))

    def _env(self, slot: Slot) -> dict[str, str]:
        return child_env(slot.overrides())

    def _answers(self, slot: Slot) -> bool:
        try:
            url = readiness_url(self.settings.model_copy(update=slot.overrides()))
        except AscoltoError:  # no port to ask: a child that lived long enough counts as started
            return False
        return answers(url, timeout=1.0)

    # --- running -------------------------------------------------------------------------------
    def stop(self) -> None:
        """Ask the loop to stop the children and return (thread- and signal-safe)."""
        self._stopping.set()

    def pids(self) -> list[int]:
        """Process ids of the children running now."""
        return [c.popen.pid for c in self.children if c.popen is not None and c.popen.poll() is None]

    def say(self, line: str) -> None:
        """One line of the supervisor's own on the shared output."""
        self._write(f"[supervisor] {line}\n")

    def run(self, *, handle_signals: bool = True) -> int:
        """Start every child, keep them running until stopped; 0 after a clean stop.

        Raises :class:`AscoltoError` (after stopping the others) when a child cannot start.
        """
        previous = self._install_signals() if handle_signals else {}
        try:
            for child in self.children:
                self._start(child)
            error = self._supervise()
        finally:
            self._shutdown()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if error:
            raise AscoltoError(error)
        return 0

    def _install_signals(self) -> dict[int, signal._HANDLER]:
        def on_signal(signum: int, frame: FrameType | None) -> None:
            self.stop()

        previous: dict[int, signal._HANDLER] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, on_signal)
        return previous

    def _supervise(self) -> str | None:
        """The loop; returns the sentence that ends it, or None once stopped."""
        while not self._stopping.wait(0.2):
            now = time.monotonic()
            for child in self.children:
                if child.popen is None:
                    if now >= child.restart_at:
                        self._start(child)
                    continue
                code = child.popen.poll()
                if code is None:
                    if not child.ready and self._became_ready(child, now):
                        child.ready = True
                        child.failed_starts = 0
                        self.say(f"{child.slot.name} ready (pid {child.popen.pid}, {child.slot.where()})")
                    continue
                error = self._on_exit(child, code, now)
                if error:
                    return error
        return None

    def _became_ready(self, child: _Child, now: float) -> bool:
        if self._is_ready(child.slot):
            return True
        # Without a port to ask, surviving the stable period is the only sign of a good start.
        no_ports = not (child.slot.web_port or child.slot.metrics_port)
        return no_ports and now - child.started_at >= self.policy.stable_seconds

    def _on_exit(self, child: _Child, code: int, now: float) -> str | None:
        assert child.popen is not None
        pid, lived = child.popen.pid, now - child.started_at
        self._join_relay(child)
        child.popen = None
        if not child.ready:
            child.failed_starts += 1
            if child.failed_starts >= self.policy.start_failures:
                return (
                    f"Worker process {child.slot.index} {describe_exit(code)} {child.failed_starts} times in a row "
                    "before it answered; fix what its output above says (its last lines are prefixed "
                    f"[{child.slot.name}]) and start again."
                )
        child.quick_deaths = child.quick_deaths + 1 if lived < self.policy.stable_seconds else 1
        delay = min(self.policy.max_delay, self.policy.first_delay * 2 ** (child.quick_deaths - 1))
        child.restart_at = now + delay
        self.say(f"{child.slot.name} (pid {pid}) {describe_exit(code)} after {lived:.0f}s; restarting it in {delay:g}s")
        return None

    def _start(self, child: _Child) -> None:
        child.slot.data_dir.mkdir(parents=True, exist_ok=True)
        child.popen = subprocess.Popen(
            self._command(child.slot),
            env=self._env(child.slot),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # Same process group as the supervisor (the default), on purpose: whoever stops the
            # group (Ctrl-C, `ascolto stack down`, a SIGKILL after a timeout) reaches the children
            # too, and none is left running without its supervisor.
        )
        child.started_at = time.monotonic()
        child.ready = False
        child.relay = threading.Thread(
            target=self._relay, args=(child.popen, child.slot.name), name=f"relay-{child.slot.name}", daemon=True
        )
        child.relay.start()

    def _relay(self, popen: subprocess.Popen[bytes], name: str) -> None:
        assert popen.stdout is not None
        with popen.stdout:
            for raw in popen.stdout:
                self._write(f"[{name}] {raw.decode('utf-8', 'replace').rstrip()}\n")

    def _write(self, text: str) -> None:
        with self._write_lock:
            try:
                self._out.write(text)
                self._out.flush()
            except (OSError, ValueError):
                pass  # our own output is gone (closed terminal): the children must go on regardless

    def _join_relay(self, child: _Child) -> None:
        if child.relay is not None:
            child.relay.join(timeout=5)
            child.relay = None

    def _shutdown(self) -> None:
        """SIGTERM to every child, SIGKILL to those still running after ``stop_timeout``."""
        running = [c for c in self.children if c.popen is not None and c.popen.poll() is None]
        if running:
            self.say(f"stopping {len(running)} worker process(es)")
        for child in running:
            assert child.popen is not None
            child.popen.terminate()
        deadline = time.monotonic() + self.stop_timeout
        for child in running:
            assert child.popen is not None
            try:
                child.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.slot.name} (pid {child.popen.pid}) did not stop in {self.stop_timeout:g}s; killing")
                child.popen.kill()
                child.popen.wait()
        for child in self.children:
            self._join_relay(child)
            child.popen = None


def run_workers(settings: Settings, processes: int, log_level: str | None = None) -> None:
    """``ascolto worker --processes N`` (N > 1): check what can be checked once, then supervise."""
    slots = plan(settings, processes)
    # A bad enricher configuration or an unreachable Kafka is one sentence here, not N children
    # failing three times each.
    chain_from_settings(settings)
    required_token(settings)  # bound beyond loopback without ASCOLTO_API_TOKEN: refused once, here
    ensure_topics(settings, processes=processes)
    supervisor = Supervisor(settings, slots, log_level=log_level)
    supervisor.say(
        f"starting {processes} worker processes in consumer group {settings.app_id!r}: "
        + "; ".join(f"{s.name} {s.where()}" for s in slots)
    )
    supervisor.run()
