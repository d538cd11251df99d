"""Elasticsearch 8, from Elastic's integ-test-zip distribution on Maven Central.

Elasticsearch refuses to run as root; when ascolto runs as root (CI, containers) the server is
started as an unprivileged user, created on first use, and its files are owned by that user.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pwd
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from ascolto.resources import deploy_path
from ascolto.stack.ownership import chown_tree, write_own_file
from ascolto.stack.service import DEPLOY_LOCAL, LocalService
from ascolto.stack.tools import DEPENDENCY_PLUGIN, java_home, run_maven, unzip_with_modes
from core.errors import StackError

ARTIFACT = "org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"

log = logging.getLogger(__name__)


class LocalElasticsearch(LocalService):
    name = "elasticsearch"
    marker = "elasticsearch"

    def __init__(self, settings) -> None:
        super().__init__(settings)
        self.as_root = os.geteuid() == 0
        if self.as_root and not _user_can_reach(settings.stack_es_user, self.home):
            # The checkout sits somewhere the server's user cannot traverse (e.g. under /root).
            digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:10]
            self.home = Path("/var/lib/ascolto") / f"elasticsearch-{digest}"
            self.process.run_dir = self.home / "run"

    @property
    def version(self) -> str:
        return self.settings.stack_es_version

    @property
    def ports(self) -> list[int]:
        return [self.settings.stack_es_port, self.settings.stack_es_transport_port]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.settings.stack_es_port}"

    @property
    def dist(self) -> Path:
        return self.home / f"elasticsearch-{self.version}"

    @property
    def server_log(self) -> Path:
        return self.home / "logs" / "ascolto-local.log"

    def provision(self) -> None:
        if (self.dist / ".complete").exists():
            return
        download = self.home / "download"
        run_maven(
            [
                "-q",
                f"{DEPENDENCY_PLUGIN}:copy",
                f"-Dartifact={ARTIFACT.format(version=self.version)}",
                f"-DoutputDirectory={download}",
                "-Dmdep.stripVersion=false",
            ],
            self.home / "provision.log",
            f"Elasticsearch {self.version}",
            java_home(),
        )
        archive = download / f"elasticsearch-{self.version}.zip"
        shutil.rmtree(self.dist, ignore_errors=True)
        unzip_with_modes(archive, self.home)
        archive.unlink()
        (self.dist / ".complete").touch()

    def install_analysis_plugin(self) -> None:
        """Build deploy/elasticsearch-plugin (Lucene's Italian/English analyzers) and put it in plugins/.

        The test distribution has no analysis-common module; without this plugin the posts
        template falls back to the standard analyzer and stemmed search does not work.
        """
        target = self.dist / "plugins" / "ascolto-analysis"
        marker = target / f".built-for-{self.version}"
        if marker.exists():
            return
        # Built in a copy under the stack directory: an installed ascolto's own files may be read-only.
        project = self.home / "plugin-build"
        shutil.rmtree(project, ignore_errors=True)
        shutil.copytree(deploy_path("elasticsearch-plugin"), project, ignore=shutil.ignore_patterns("target"))
        run_maven(
            ["-q", "-f", str(project / "pom.xml"), "package", f"-Delasticsearch.version={self.version}"],
            self.home / "plugin-build.log",
            "the ascolto analysis plugin's build dependencies",
            java_home(),
        )
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        unzip_with_modes(project / "target" / "ascolto-analysis-1.0.0.zip", target)
        for path in target.iterdir():
            path.chmod(0o644)
        marker.touch()

    @property
    def server_dirs(self) -> list[Path]:
        """What the server writes: its config (keystore), data and logs; as root, its user owns them."""
        return [self.home / "config", self.home / "data", self.home / "logs"]

    def write_config(self) -> Path:
        """Copy the distribution's config once and render elasticsearch.yml into it; the config dir."""
        config, data, logs = self.server_dirs
        if not config.exists():
            shutil.copytree(self.dist / "config", config)
        data.mkdir(parents=True, exist_ok=True)
        logs.mkdir(parents=True, exist_ok=True)
        template = (DEPLOY_LOCAL / "elasticsearch" / "elasticsearch.yml").read_text()
        rendered = template.format(
            port=self.settings.stack_es_port,
            transport_port=self.settings.stack_es_transport_port,
            data_dir=data,
            logs_dir=logs,
        )
        # As root, config/ belongs to the server's user: replace the file, never write through a link there.
        write_own_file(config / "elasticsearch.yml", rendered.encode(), mode=0o640)
        return config

    def hand_over(self, user: pwd.struct_passwd) -> None:
        """Give the server's directories to its user (as root); links inside are neither followed nor changed."""
        for path in self.server_dirs:
            skipped = chown_tree(path, user.pw_uid, user.pw_gid)
            if skipped:
                log.warning("left the owner of hard-linked files under %s unchanged: %s", path, ", ".join(skipped))

    def launch(self) -> None:
        self.install_analysis_plugin()
        config = self.write_config()
        heap = self.settings.stack_es_heap
        env = {
            **os.environ,
            "ES_JAVA_HOME": str(java_home()),
            "ES_PATH_CONF": str(config),
            "ES_JAVA_OPTS": f"-Xms{heap} -Xmx{heap}",
        }
        argv = [str(self.dist / "bin" / "elasticsearch")]
        if self.as_root:
            user = _ensure_user(self.settings.stack_es_user)
            # Not run/: root writes the pid file and the server's output there (ManagedProcess keeps it root's).
            self.hand_over(user)
            env["HOME"] = str(self.home)
            argv = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups", *argv]
        self.process.start(argv, env=env, cwd=self.home)

    def probe(self) -> bool:
        url = f"{self.endpoint}/_cluster/health?wait_for_status=yellow&timeout=2s"
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.load(resp).get("status") in ("yellow", "green")
        except (urllib.error.URLError, OSError, ValueError):
            return False


def _ensure_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    result = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(
            f"Elasticsearch cannot run as root and creating the user {name!r} failed ({result.stderr.strip()}); "
            "create an unprivileged user and set ASCOLTO_STACK_ES_USER to it."
        )
    return pwd.getpwnam(name)


def _user_can_reach(name: str, path: Path) -> bool:
    """Whether every existing parent of ``path`` lets others traverse it (the server's user is 'others')."""
    for parent in [path, *path.parents]:
        if parent.exists():
            if not os.stat(parent).st_mode & 0o001:
                return False
    return True
