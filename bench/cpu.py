"""CPU time spent by processes over a measured window, read with psutil (user + system).

The benches report CPU microseconds per post next to posts/s: on a shared machine posts/s moves
with the neighbours' load, CPU per post barely does. Helpers here:

* :func:`tree_cpu` — a process and all its descendants (Elasticsearch's launcher starts the
  server JVM as a child; ``ascolto worker --processes N`` starts children too), children that
  already exited and were reaped included;
* :class:`CpuMeter` — named groups of such trees sampled at the start and end of a window;
* :func:`cpu_at_exit` — the whole-life CPU of a child that has just exited (a connector run),
  read before it is reaped, so nothing is lost between the last sample and its exit;
* :func:`machine_busy` — the whole machine's busy CPU seconds (every process, neighbours too).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import psutil


def _own(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    # children_*: descendants this process has waited for (their time is gone from the tree otherwise).
    return t.user + t.system + t.children_user + t.children_system


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live descendants, reaped children included."""
    root = psutil.Process(pid)
    total = _own(root)
    for child in root.children(recursive=True):
        try:
            total += _own(child)
        except psutil.NoSuchProcess:
            # Exited between listing and reading: its parent's children_* will hold it once reaped.
            pass
    return total


def machine_busy() -> float:
    """Busy CPU seconds of the whole machine since boot (all cores, every process)."""
    t = psutil.cpu_times()
    return sum(t) - t.idle - getattr(t, "iowait", 0.0) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)


@dataclass
class CpuMeter:
    """CPU seconds of named groups of process trees between :meth:`start` and :meth:`stop`.

    A group whose processes all died during the window raises psutil.NoSuchProcess at ``stop``:
    a bench must not report a figure it could not read.
    """

    groups: Mapping[str, Iterable[int]]
    _start: dict[str, float] = field(default_factory=dict)
    _wall: float = 0.0

    def _read(self) -> dict[str, float]:
        values = {name: sum(tree_cpu(pid) for pid in pids) for name, pids in self.groups.items()}
        values["machine"] = machine_busy()
        return values

    def start(self) -> None:
        self._start = self._read()
        self._wall = time.perf_counter()

    def stop(self) -> tuple[dict[str, float], float]:
        """CPU seconds per group (and ``machine``) spent in the window, and the window's wall seconds."""
        end = self._read()
        return {name: end[name] - self._start[name] for name in end}, time.perf_counter() - self._wall


def cpu_if_exited(popen: subprocess.Popen[bytes]) -> float | None:
    """None while the child runs; once it has exited, its whole-life CPU seconds (then it is reaped).

    ``WNOWAIT`` leaves the exited child a zombie, whose /proc entry still holds its final times
    (threads included); ``Popen.poll()`` would reap it first and the times would be gone.
    """
    info = os.waitid(os.P_PID, popen.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    if info is None:
        return None
    seconds = _own(psutil.Process(popen.pid))
    popen.wait()
    return seconds


def cpu_at_exit(popen: subprocess.Popen[bytes]) -> float:
    """Wait for the child to exit; its whole-life CPU seconds (then it is reaped)."""
    os.waitid(os.P_PID, popen.pid, os.WEXITED | os.WNOWAIT)
    seconds = _own(psutil.Process(popen.pid))
    popen.wait()
    return seconds
