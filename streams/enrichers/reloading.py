"""Configuration files that reload while the worker runs, without dropping a message."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class ReloadingFile(Generic[T]):
    """Holds what ``load(path)`` built, and rebuilds it when the file changes.

    Checks the file's modification time at most every ``every`` seconds, from the thread that
    reads :attr:`value` (the agent's), so a swap happens between two messages. A file that no
    longer loads is reported and the previous version stays in use.
    """

    def __init__(self, path: Path, load: Callable[[Path], T], every: float) -> None:
        self.path = path
        self._load = load
        self._every = every
        self._value = load(path)  # a broken file at start-up is an error the user must see
        self._mtime = self._stat()
        self._next_check = time.monotonic() + every

    def _stat(self) -> float | None:
        try:
            return self.path.stat().st_mtime
        except OSError:
            return None

    @property
    def value(self) -> T:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self._every
            mtime = self._stat()
            if mtime is not None and mtime != self._mtime:
                self._mtime = mtime
                try:
                    self._value = self._load(self.path)
                    log.info("reloaded %s", self.path)
                except Exception as exc:  # keep serving the last good version
                    log.error("not reloading %s, keeping the previous version: %s", self.path, exc)
        return self._value
