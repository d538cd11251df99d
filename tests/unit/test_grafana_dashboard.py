"""The Grafana dashboard and the Prometheus rules use only series ascolto exports (or records itself),
and every dashboard expression is valid PromQL (checked by promtool)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "ascolto.json"
RULE_FILES = sorted((DEPLOY / "prometheus").glob("*rules.yml"))
SERIES = re.compile(r"(?<![\w:])(ascolto(?::[a-z0-9_]+)+|ascolto_[a-z0-9_]+)")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_series() -> set[str]:
    """Every series name a scrape of a worker or a connector can hold, from the registry itself."""
    import connectors.metrics  # noqa: F401 (registers the connectors' metrics)
    import streams.metrics  # noqa: F401

    names = {"up"}
    for family in REGISTRY.collect():
        names |= {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
    return names


def recorded_series() -> set[str]:
    return {
        rule["record"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", ())]


def rule_exprs() -> list[str]:
    return [
        rule["expr"]
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def test_the_dashboard_uses_only_exported_or_recorded_series():
    known = exported_series() | recorded_series()
    exprs = dashboard_exprs()
    used = {name for expr in exprs for name in SERIES.findall(expr)}
    assert len(exprs) >= 8 and used, "the dashboard lost its panels"
    assert used <= known, sorted(used - known)


def test_the_rules_use_only_exported_series():
    known = exported_series() | recorded_series()
    used = {name for expr in rule_exprs() for name in SERIES.findall(expr)}
    assert used <= known, sorted(used - known)


def test_the_check_sees_a_series_nobody_exports():
    """The name matching above is not vacuous: a misspelt series is caught."""
    assert "ascolto_docs_indexd_total" not in exported_series() | recorded_series()
    assert SERIES.findall('sum(rate(ascolto_docs_indexd_total[5m])) / ascolto:topic_x:15m{topic="a"}') == [
        "ascolto_docs_indexd_total",
        "ascolto:topic_x:15m",
    ]


def test_the_dashboard_panels_cover_what_ops_watch():
    dashboard = json.loads(DASHBOARD.read_text())
    titles = " ".join(panel["title"].lower() for panel in dashboard["panels"])
    for topic in ("throughput", "latency", "lag", "errors", "sentiment"):
        assert topic in titles, topic


def test_dashboard_expressions_are_valid_promql(require_tool, tmp_path):
    promtool = require_tool("promtool", "prometheus")
    # Grafana fills $__rate_interval in; promtool checks the rest as recording rules.
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:expr_{i}", "expr": expr.replace("$__rate_interval", "5m")}
                    for i, expr in enumerate(dashboard_exprs())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    checked = subprocess.run(
        [promtool, "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
