"""Shared test helpers."""

from ascolto.testing import wait_for

__all__ = ["wait_for"]
