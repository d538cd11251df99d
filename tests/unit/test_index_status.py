"""`ascolto index status` reads and reports; it never installs, creates, rolls over or deletes."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from ascolto.cli import index_cmd
from ascolto.cli.main import app
from core.settings import Settings
from elastic.index_status import read_status
from elastic.templates import render_posts_templates

ALIAS = "ascolto-posts"
ANALYZERS = {"italian": "italian", "english": "english"}


class ReadOnlyES:
    """An Elasticsearch that answers the reads `index status` needs; any other call fails the test."""

    def __init__(self, *, fingerprint: dict[str, Any] | None, due: bool, with_alias: bool = True) -> None:
        self.calls: list[str] = []
        self.fingerprint = fingerprint
        self.due = due
        self.with_alias = with_alias
        self.indices = SimpleNamespace(
            analyze=self._call("indices.analyze", None),
            exists_alias=self._call("indices.exists_alias", with_alias),
            get_alias=self._call(
                "indices.get_alias",
                {
                    f"{ALIAS}-000001": {"aliases": {ALIAS: {"is_write_index": False}}},
                    f"{ALIAS}-000002": {"aliases": {ALIAS: {"is_write_index": True}}},
                },
            ),
            get_settings=self._call(
                "indices.get_settings",
                {
                    f"{ALIAS}-000001": {"settings": {"index": {"creation_date": "1700000000000"}}},
                    f"{ALIAS}-000002": {"settings": {"index": {"creation_date": "1710000000000"}}},
                },
            ),
            get_mapping=self._call("indices.get_mapping", {f"{ALIAS}-000002": {"mappings": {"_meta": fingerprint}}}),
            rollover=self._rollover,
        )
        self.cluster = SimpleNamespace(get_component_template=self._component)
        self.cat = SimpleNamespace(
            indices=self._call(
                "cat.indices",
                SimpleNamespace(
                    body=[
                        {"index": f"{ALIAS}-000001", "docs.count": "120"},
                        {"index": f"{ALIAS}-000002", "docs.count": "7"},
                    ]
                ),
            )
        )

    def _call(self, name: str, answer: Any) -> Any:
        async def call(**kwargs: Any) -> Any:
            self.calls.append(name)
            return answer

        return call

    async def _component(self, name: str) -> dict[str, Any]:
        self.calls.append("cluster.get_component_template")
        template: dict[str, Any] = {"mappings": {"_meta": self.fingerprint}} if self.fingerprint else {}
        return {"component_templates": [{"name": name, "component_template": {"template": template}}]}

    async def _rollover(self, *, alias: str, conditions: dict[str, Any], dry_run: bool = False) -> dict[str, Any]:
        assert dry_run is True, "index status must only dry-run a rollover"
        assert conditions["max_age"] == "7d"
        self.calls.append("indices.rollover(dry_run)")
        return {
            "dry_run": True,
            "rolled_over": False,
            "conditions": {"[max_age: 7d]": False, "[max_docs: 5]": self.due},
        }

    async def close(self) -> None:
        pass


def current_fingerprint() -> dict[str, Any]:
    return render_posts_templates(Settings(), ANALYZERS).fingerprint


def test_status_reports_counts_templates_and_rollover_by_reading_only():
    es = ReadOnlyES(fingerprint=current_fingerprint(), due=True)
    st = asyncio.run(read_status(es, Settings()))  # type: ignore[arg-type]
    assert [(r.index.name, r.docs, r.index.is_write) for r in st.backing] == [
        (f"{ALIAS}-000001", 120, False),
        (f"{ALIAS}-000002", 7, True),
    ]
    assert st.analyzers == ANALYZERS and st.templates_current and st.rollover_due
    assert "indices.rollover(dry_run)" in es.calls


def test_outdated_templates_are_reported_and_make_a_rollover_due():
    old = {**current_fingerprint(), "template_version": 1}
    st = asyncio.run(read_status(ReadOnlyES(fingerprint=old, due=False), Settings()))  # type: ignore[arg-type]
    assert not st.templates_current and st.rollover_due


def test_nothing_installed_yet():
    es = ReadOnlyES(fingerprint=None, due=False, with_alias=False)
    st = asyncio.run(read_status(es, Settings()))  # type: ignore[arg-type]
    assert st.installed is None and st.backing == [] and not st.rollover_due
    assert "indices.rollover(dry_run)" not in es.calls


@pytest.fixture
def fake_es(monkeypatch):
    es = ReadOnlyES(fingerprint=current_fingerprint(), due=True)
    monkeypatch.setattr(index_cmd, "async_es_client", lambda settings: es)
    return es


def test_the_command_prints_the_report(fake_es):
    result = CliRunner().invoke(app, ["index", "status"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"{ALIAS}-000001" in result.output and "120" in result.output
    assert "templates: current" in result.output
    assert "rollover: due ([max_docs: 5])" in result.output
