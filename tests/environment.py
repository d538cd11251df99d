"""Where the suite runs: CI must run every test, so there a missing tool or server fails instead of skipping."""

from __future__ import annotations

import os


def in_ci() -> bool:
    """True when the environment variable CI is set to true (GitHub Actions, GitLab and `.ci/run` set it)."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")
