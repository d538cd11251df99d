"""Deployment files checked by their own tools (promtool from Debian's prometheus package)."""

import re
import subprocess
from pathlib import Path

import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_prometheus_config_and_rules_are_valid(require_tool):
    promtool = require_tool("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "8 rules found" in result.stdout


def test_alert_rules_use_metrics_the_code_exports():
    from connectors import metrics as connector_metrics
    from streams import metrics as stream_metrics

    exported = set()
    for module in (stream_metrics, connector_metrics):
        for value in vars(module).values():
            name = getattr(value, "_name", None)
            if name:
                exported.add(name)
    rules = yaml.safe_load((DEPLOY / "prometheus" / "ascolto-rules.yml").read_text())
    for rule in rules["groups"][0]["rules"]:
        used = {name.removesuffix("_bucket") for name in re.findall(r"ascolto_[a-z_]+", rule["expr"])}
        assert used <= exported | {f"{n}_total" for n in exported}, (rule["alert"], used - exported)
