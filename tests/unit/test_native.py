"""The compiled enrichers (streams/enrichers/native.py): used when up to date, never when stale."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import os
import sys
from pathlib import Path

import pytest

import streams.enrichers
from streams.enrichers import native

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _package(tmp_path: Path, name: str) -> Path:
    """A package shaped like streams/enrichers: a module, a 'build' of it that cannot load, a guard."""
    package = tmp_path / name
    package.mkdir()
    (package / "__init__.py").write_text(
        "from streams.enrichers import native\nSTATE = native.guard(__path__, ('scorer',))\n", encoding="utf-8"
    )
    (package / "scorer.py").write_text("RUNS = 'source'\n", encoding="utf-8")
    # Not a real extension: importing it fails loudly, so the test sees which one Python chose.
    (package / f"scorer{SUFFIX}").write_bytes(b"not an extension module")
    return package


@pytest.fixture
def on_path(tmp_path: Path):  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith("pkg_")]:
        del sys.modules[name]


def test_a_stale_build_is_never_loaded_and_says_how_to_rebuild(on_path: Path) -> None:
    package = _package(on_path, "pkg_stale")
    (package / "native.json").write_text(json.dumps({"sources": "built from older sources"}), encoding="utf-8")
    with pytest.warns(native.StaleBuild, match="make compile"):
        pkg = importlib.import_module("pkg_stale")
    assert pkg.STATE == "stale"
    assert importlib.import_module("pkg_stale.scorer").RUNS == "source"


def test_a_build_without_its_record_counts_as_stale(on_path: Path) -> None:
    package = _package(on_path, "pkg_unrecorded")
    assert native.status(package, ("scorer",)) == "stale"


def test_an_up_to_date_build_is_the_one_python_imports(on_path: Path) -> None:
    package = _package(on_path, "pkg_fresh")
    digest = native.source_digest(package, ("scorer",))
    (package / "native.json").write_text(json.dumps({"sources": digest}), encoding="utf-8")
    assert native.status(package, ("scorer",)) == "compiled"
    importlib.import_module("pkg_fresh")
    with pytest.raises(ImportError):  # the (fake) extension was chosen over the source
        importlib.import_module("pkg_fresh.scorer")


def test_editing_a_source_makes_the_build_stale(on_path: Path) -> None:
    package = _package(on_path, "pkg_edited")
    (package / "native.json").write_text(
        json.dumps({"sources": native.source_digest(package, ("scorer",))}), encoding="utf-8"
    )
    (package / "scorer.py").write_text("RUNS = 'edited source'\n", encoding="utf-8")
    assert native.status(package, ("scorer",)) == "stale"


def test_ascolto_native_0_runs_the_sources_of_a_fresh_build(on_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = _package(on_path, "pkg_off")
    (package / "native.json").write_text(
        json.dumps({"sources": native.source_digest(package, ("scorer",))}), encoding="utf-8"
    )
    monkeypatch.setenv("ASCOLTO_NATIVE", "0")
    assert importlib.import_module("pkg_off").STATE == "source"
    assert importlib.import_module("pkg_off.scorer").RUNS == "source"


def test_without_a_build_the_sources_run(on_path: Path) -> None:
    package = _package(on_path, "pkg_none")
    (package / f"scorer{SUFFIX}").unlink()
    assert native.status(package, ("scorer",)) == "source"


@pytest.mark.skipif(
    os.environ.get("CI") != "true" and streams.enrichers.NATIVE != "compiled",
    reason="the enrichers are not compiled here (make compile); CI must compile them",
)
def test_the_worker_runs_the_compiled_enrichers() -> None:
    from streams.enrichers import sentiment_it, text

    assert streams.enrichers.NATIVE == "compiled"
    assert Path(sentiment_it.__file__ or "").name.endswith(SUFFIX)
    assert Path(text.__file__ or "").name.endswith(SUFFIX)
