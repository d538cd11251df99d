"""Background processes with pid files: start detached, find again, stop cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from ascolto.stack.ownership import open_own_file, private_dir, read_own_file, write_own_file


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def tail(path: Path, lines: int = 15) -> str:
    """Last lines of a log file, for error messages ('' when absent or a symbolic link)."""
    try:
        # Often a file another user writes (the Elasticsearch user's log): never read through a link.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC), "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 8192))
            return "\n".join(fh.read().decode("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return ""


@dataclass
class ManagedProcess:
    """A server process started in its own session, tracked by a pid file.

    ``marker`` is a string its command line must contain, so that a stale pid file whose
    number was reused by an unrelated process is never mistaken for our server. ``run_dir``
    holds this user's own files (pid file, output): it is kept writable by this user only, even
    when the server runs as another user, and those files are never written through a link.
    """

    name: str
    run_dir: Path
    marker: str

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.out"

    def pid(self) -> int | None:
        """Pid of the live process, or None (a stale pid file is removed)."""
        try:
            pid = int(read_own_file(self.pid_file, limit=64).decode().strip())
        except (OSError, ValueError):
            return None
        if _is_alive(pid):
            cmdline = _cmdline(pid)
            # An empty command line is a process between fork and exec (or being reaped): not proof
            # that the number was reused, so the pid file stays.
            if not cmdline.strip() or self.marker in cmdline:
                return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def start(self, argv: Sequence[str], env: Mapping[str, str], cwd: Path) -> int:
        """Start detached from this terminal, output appended to ``log_file``; returns the pid."""
        private_dir(self.run_dir)
        with os.fdopen(open_own_file(self.log_file), "ab") as log:
            proc = subprocess.Popen(
                list(argv),
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        write_own_file(self.pid_file, f"{proc.pid}\n".encode())
        return proc.pid

    def exited(self) -> bool:
        return self.pid() is None

    def stop(self, timeout: float = 60.0) -> bool:
        """SIGTERM the whole process group, SIGKILL after ``timeout``; False if it was not running."""
        pid = self.pid()
        if pid is None:
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _is_alive(pid):
            time.sleep(0.2)
        if _is_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _is_alive(pid):
                time.sleep(0.1)
        self.pid_file.unlink(missing_ok=True)
        return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def _is_alive(pid: int) -> bool:
    """Running, and not a zombie (a zombie child of ours is dead for our purposes)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def _cmdline(pid: int) -> str:
    try:
        return " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return ""
