"""Prometheus from Debian's ``prometheus`` package, scraping the local worker and connectors.

The server binary is the system's when installed, else it is taken out of the Debian package
(``apt-get download`` + ``dpkg-deb -x``, no root needed) into the stack directory, so no system
service gets installed or started. It listens on 127.0.0.1:ASCOLTO_STACK_PROMETHEUS_PORT, keeps its
data under the stack directory and loads the pipeline's alert and recording rules from
``deploy/prometheus/``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from ascolto.resources import deploy_path
from ascolto.stack.service import LocalService
from core.errors import StackError
from core.settings import Settings

#: Alert and recording rules Prometheus loads (deploy/prometheus in a checkout).
RULE_FILES = ("ascolto-rules.yml", "ascolto-recording-rules.yml")
#: Worker processes scraped on ASCOLTO_METRICS_PORT + i, as in deploy/prometheus/prometheus.yml.
WORKER_PROCESSES = 4


class LocalPrometheus(LocalService):
    """Prometheus as a managed stack service; connectors are found through target files.

    A connector run with ``--metrics-port P`` is scraped once a file ``<home>/targets/<name>.json``
    holds ``[{"targets": ["127.0.0.1:P"]}]`` (Prometheus re-reads the directory by itself).
    """

    name = "prometheus"
    marker = "prometheus"

    def __init__(self, settings: Settings, scrape_seconds: float = 15.0) -> None:
        super().__init__(settings)
        self.scrape_seconds = scrape_seconds

    @property
    def version(self) -> str:
        binary = self._binary()
        if binary is None:
            return "-"
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=False)
        match = re.search(r"version (\S+)", out.stdout + out.stderr)
        return match.group(1) if match else "?"

    @property
    def ports(self) -> list[int]:
        return [self.settings.stack_prometheus_port]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.settings.stack_prometheus_port}"

    @property
    def server_log(self) -> Path:
        return self.process.log_file

    @property
    def targets_dir(self) -> Path:
        return self.home / "targets"

    def _binary(self) -> Path | None:
        system = shutil.which("prometheus")
        if system:
            return Path(system)
        extracted = self.home / "dist" / "usr" / "bin" / "prometheus"
        return extracted if extracted.exists() else None

    def provision(self) -> None:
        if self._binary() is not None:
            return
        if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
            raise StackError(
                "Prometheus is not installed and this is not a Debian-like system: install Prometheus "
                "(e.g. `brew install prometheus`) and run the command again."
            )
        with tempfile.TemporaryDirectory() as work:
            fetched = subprocess.run(
                ["apt-get", "download", "-qq", "prometheus"], cwd=work, capture_output=True, text=True, check=False
            )
            debs = list(Path(work).glob("prometheus_*.deb"))
            if fetched.returncode != 0 or not debs:
                why = (fetched.stderr or fetched.stdout).strip()[:200]
                raise StackError(
                    f"Could not download Debian's prometheus package ({why}): "
                    "run `apt-get update` (or install it: `apt-get install prometheus`) and try again."
                )
            dist = self.home / "dist"
            dist.mkdir(parents=True, exist_ok=True)
            subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(dist)], check=True, capture_output=True)

    def write_config(self) -> Path:
        """The scrape configuration: the worker processes, the connectors' target files, the rules."""
        rules = [str(deploy_path("prometheus", name).resolve()) for name in RULE_FILES]
        port = self.settings.metrics_port
        interval = f"{self.scrape_seconds:g}s"
        config = {
            "global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [r for r in rules if Path(r).exists()],
            "scrape_configs": [
                {
                    "job_name": "ascolto-worker",
                    "static_configs": [{"targets": [f"127.0.0.1:{port + i}" for i in range(WORKER_PROCESSES)]}],
                },
                {
                    "job_name": "ascolto-connectors",
                    "file_sd_configs": [{"files": [str(self.targets_dir / "*.json")], "refresh_interval": interval}],
                },
            ],
        }
        self.home.mkdir(parents=True, exist_ok=True)
        self.targets_dir.mkdir(exist_ok=True)
        path = self.home / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return path

    def launch(self) -> None:
        binary = self._binary()
        assert binary is not None  # provision() found or extracted it
        config = self.write_config()
        argv = [
            str(binary),
            f"--config.file={config}",
            f"--storage.tsdb.path={self.home / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.settings.stack_prometheus_port}",
            # Debian's build looks for its web console files under /usr/share; without them it still serves the API.
            f"--web.console.templates={self.home / 'consoles'}",
            f"--web.console.libraries={self.home / 'console_libraries'}",
        ]
        self.process.start(argv, env={"PATH": "/usr/bin:/bin"}, cwd=self.home)

    def probe(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/-/ready", timeout=5) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False
