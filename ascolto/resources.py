"""Files from ``deploy/`` that ascolto needs at run time, in a checkout or in an installed wheel.

A checkout has them in ``deploy/``; the wheel carries the same folders as ``ascolto/deploy/``
(force-included by pyproject.toml), so an installed ascolto works outside any checkout.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGED = Path(__file__).resolve().parent / "deploy"
_CHECKOUT = Path(__file__).resolve().parent.parent / "deploy"


def deploy_path(*parts: str) -> Path:
    """``deploy/<parts>`` from the installed package if it ships one, else from the checkout."""
    packaged = _PACKAGED.joinpath(*parts)
    return packaged if packaged.exists() else _CHECKOUT.joinpath(*parts)
