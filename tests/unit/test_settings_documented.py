"""Every setting a user can give is in the README's configuration table (a new one is easy to forget)."""

from __future__ import annotations

import re
from pathlib import Path

from core.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def documented_names(text: str) -> set[str]:
    """``ASCOLTO_*`` names in the table rows, with the `/ _SUFFIX` shorthand expanded:
    ``ASCOLTO_SMTP_HOST` / `_PORT`` documents ASCOLTO_SMTP_PORT too."""
    names: set[str] = set()
    for row in (line for line in text.splitlines() if line.startswith("| `ASCOLTO_")):
        cell = row.split("|")[1]
        full = re.findall(r"`(ASCOLTO_[A-Z0-9_]+)`", cell)
        suffixes = re.findall(r"`(_[A-Z0-9_]+)`", cell)
        names.update(full)
        for name in full[:1]:
            parts = name.split("_")
            # The shorthand shares a leading part of the first name: try each.
            names.update("_".join(parts[:i]) + suffix for i in range(2, len(parts)) for suffix in suffixes)
    return names


def test_the_shorthand_is_expanded():
    row = "| `ASCOLTO_STACK_KAFKA_PORT` / `_CONTROLLER_PORT` / `_HEAP` | x | y |"
    assert {"ASCOLTO_STACK_KAFKA_CONTROLLER_PORT", "ASCOLTO_STACK_KAFKA_HEAP"} <= documented_names(row)


def test_every_setting_is_in_the_readme_configuration_table():
    names = documented_names(README.read_text(encoding="utf-8"))
    missing = sorted(
        f"ASCOLTO_{field.upper()}" for field in Settings.model_fields if f"ASCOLTO_{field.upper()}" not in names
    )
    assert not missing, f"add these settings to README.md's configuration table: {', '.join(missing)}"
