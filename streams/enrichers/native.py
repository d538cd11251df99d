"""The enrichers' hot modules compiled to C by mypyc, and the guard that never lets a stale build run.

The modules in :data:`MODULES` are plain, type-checked Python. ``make install`` (or
``ascolto compile``) compiles them with mypyc (the compiler mypy ships) into
extension modules beside their sources, which Python then imports instead: the same code, about
twice as fast (``bench/enrichment.py`` prints which one ran). The build records a digest of the
sources it compiled in :data:`MANIFEST`. When a source has changed since (an edit, a checkout),
:func:`guard` makes this package import every one of them from source, so an outdated build is
never run: only slower, with a warning saying how to rebuild. Without a C compiler nothing is
built and everything runs from source; ``ASCOLTO_NATIVE=0`` runs the sources even when built
(profilers see into them; read here, not in Settings, because it must act before any import).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import json
import os
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Compiled: where the time goes. The enricher classes and the chain stay Python, where the
#: plugin loader can read their signatures and classes can subclass them; compiling them too
#: gained nothing measurable.
MODULES = ("text", "matcher", "taxonomy", "reloading", "valence", "sentiment_it_rules", "sentiment_it")
#: The build's record: the digest of the sources it compiled (not in git).
MANIFEST = HERE / "native.json"
#: mypyc's group name: its shared library sits in this package, not at the top of sys.path.
GROUP = "streams.enrichers.native_group"


class StaleBuild(UserWarning):
    """Compiled enrichers older than their sources: the sources run instead."""


def source_digest(here: Path = HERE, modules: tuple[str, ...] = MODULES) -> str:
    """sha256 of the compiled modules' sources, in :data:`MODULES` order."""
    digest = hashlib.sha256()
    for name in modules:
        digest.update(name.encode())
        digest.update((here / f"{name}.py").read_bytes())
    return digest.hexdigest()


def _built(here: Path = HERE) -> set[Path]:
    return {path for suffix in importlib.machinery.EXTENSION_SUFFIXES for path in here.glob(f"*{suffix}")}


def status(here: Path = HERE, modules: tuple[str, ...] = MODULES) -> str:
    """``compiled`` (an up-to-date build is used), ``source`` (none built, or ``ASCOLTO_NATIVE=0``) or
    ``stale`` (built from other sources). ``here`` and ``modules`` are for tests."""
    if not _built(here) or os.environ.get("ASCOLTO_NATIVE", "1").strip().lower() in ("0", "false", "no", "off"):
        return "source"
    try:
        recorded = json.loads((here / MANIFEST.name).read_text(encoding="utf-8")).get("sources")
    except (OSError, ValueError, AttributeError):
        recorded = None
    return "compiled" if recorded == source_digest(here, modules) else "stale"


def guard(package_path: list[str], modules: tuple[str, ...] = MODULES) -> str:
    """Called by the package on import: unless an up-to-date build is there, make its submodules load from source.

    Python prefers an extension module to a source file of the same name; the package's directory
    gets a finder that knows source files only, so none of the outdated build is loaded (mypyc's
    modules call each other directly, so it is all of them or none).
    """
    here = Path(package_path[0])
    state = status(here, modules)
    if state != "compiled" and _built(here):
        loaders = [
            (importlib.machinery.SourceFileLoader, importlib.machinery.SOURCE_SUFFIXES),
            (importlib.machinery.SourcelessFileLoader, importlib.machinery.BYTECODE_SUFFIXES),
        ]
        for entry in package_path:
            sys.path_importer_cache[entry] = importlib.machinery.FileFinder(entry, *loaders)
    if state == "stale":
        warnings.warn(
            "the compiled enrichers are older than their sources, so the sources run (slower): "
            "run `make compile` (or `ascolto compile`) to rebuild them",
            StaleBuild,
            stacklevel=3,
        )
    return state


def clean() -> None:
    """Remove the build (the sources then run)."""
    for path in _built():
        path.unlink(missing_ok=True)
    MANIFEST.unlink(missing_ok=True)


def build() -> None:
    """Compile :data:`MODULES` in place with mypyc and record their digest; raises on failure."""
    # Imported here: mypy and setuptools are build tools (the `fast` extra), not run-time dependencies.
    from mypyc.build import mypycify
    from setuptools import Distribution

    root = HERE.parents[1]
    clean()
    paths = [str((HERE / f"{name}.py").relative_to(root)) for name in MODULES]
    digest = source_digest()
    with contextlib.chdir(root):  # where mypy finds its configuration (pyproject.toml)
        extensions = mypycify(paths, opt_level="3", group_name=GROUP)
        # A bare Distribution: setup() would read pyproject.toml as a setuptools project, which it is not.
        dist = Distribution({"name": "ascolto-native", "ext_modules": extensions})
        command = dist.get_command_obj("build_ext")
        command.inplace = True
        command.build_temp = str(root / "build" / "native")
        dist.run_command("build_ext")
    MANIFEST.write_text(json.dumps({"sources": digest, "modules": list(MODULES)}) + "\n", encoding="utf-8")
