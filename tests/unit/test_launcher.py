"""The one process launcher: command line, environment, readiness, the demo's background worker."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from ascolto import launcher
from ascolto.stack.process import ManagedProcess
from ascolto.testing import free_port
from core.errors import AscoltoError
from core.settings import Settings


def test_child_env_turns_setting_names_into_variables_and_keeps_our_imports():
    env = launcher.child_env({"web_port": 0, "es_index": "x-posts"}, base={"PATH": "/bin", "ASCOLTO_APP_ID": "a"})
    assert env["ASCOLTO_WEB_PORT"] == "0" and env["ASCOLTO_ES_INDEX"] == "x-posts"
    assert env["PATH"] == "/bin" and env["ASCOLTO_APP_ID"] == "a"
    assert set(env["PYTHONPATH"].split(os.pathsep)) == {p for p in sys.path if p}


def test_settings_of_reads_what_the_child_will_read():
    settings = launcher.settings_of(launcher.child_env({"web_port": 7001, "metrics_port": "0"}, base={}))
    assert (settings.web_port, settings.metrics_port) == (7001, 0)


def test_readiness_is_the_api_else_metrics_else_refused():
    assert launcher.readiness_url(Settings(web_port=7001)) == "http://127.0.0.1:7001/api/stats"
    assert launcher.readiness_url(Settings(web_port=0, metrics_port=9999)) == "http://127.0.0.1:9999/metrics"
    with pytest.raises(AscoltoError, match="ASCOLTO_WEB_PORT=0"):
        launcher.readiness_url(Settings(web_port=0, metrics_port=0))


def test_command_runs_this_interpreters_ascolto(tmp_path):
    assert launcher.ascolto_command("worker") == [sys.executable, "-m", "ascolto", "worker"]
    child = launcher.ChildProcess(["--help"], env=launcher.child_env(), log_file=tmp_path / "help.log").start()
    assert child.wait(timeout=60) == 0
    assert "worker" in child.log_tail() and not child.running()


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(503)  # an error status is still an answer
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_port():
    server = HTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_wait_answering_returns_once_the_server_answers(http_port, tmp_path):
    launcher.wait_answering(
        f"http://127.0.0.1:{http_port}/api/stats", alive=lambda: True, log_file=tmp_path / "x", what="w", timeout=5
    )
    assert launcher.answers(f"http://127.0.0.1:{http_port}/")
    assert not launcher.answers(f"http://127.0.0.1:{free_port()}/")


def test_wait_answering_reports_a_dead_process_with_its_log(tmp_path):
    log = tmp_path / "worker.log"
    log.write_text("boom: it broke\n")
    with pytest.raises(AscoltoError, match=r"(?s)stopped during start-up; see its log .*boom: it broke"):
        launcher.wait_answering(
            f"http://127.0.0.1:{free_port()}/api/stats", alive=lambda: False, log_file=log, what="worker", timeout=30
        )


def test_a_worker_that_cannot_start_is_reported_not_waited_for(tmp_path):
    with pytest.raises(AscoltoError, match="worker stopped during start-up") as info:
        launcher.start_worker(
            {"enrichers": "language,no_such_enricher", "web_port": free_port(), "data_dir": tmp_path / "data"},
            log_file=tmp_path / "worker.log",
        )
    assert "ASCOLTO_ENRICHERS" in str(info.value)


def test_background_worker_failure_leaves_no_pid_file(tmp_path):
    settings = Settings(stack_dir=tmp_path, web_port=free_port(), data_dir=tmp_path / "data")
    worker = launcher.BackgroundWorker(settings)
    env = {**os.environ, "ASCOLTO_ENRICHERS": "nope"}
    with pytest.raises(AscoltoError, match="stopped during start-up"):
        worker.start(env)
    assert worker.pid() is None and not worker.process.pid_file.exists()
    assert worker.status().pid is None


READY = '{"ready": true, "checks": {"kafka": "ok", "elasticsearch": "ok", "agents": "ok"}}'


def _fake_worker(tmp_path: Path, web_port: int, readyz: str = READY, status: int = 200) -> ManagedProcess:
    """A process that looks like the demo's worker: marker on its command line, an HTTP port answering
    every GET (/readyz among them) with ``status`` and ``readyz``."""
    proc = ManagedProcess("worker", tmp_path / "worker", marker="ascolto worker")
    serve = (
        "import http.server as h\n"
        "class R(h.BaseHTTPRequestHandler):\n"
        f"    def do_GET(self):\n"
        f"        self.send_response({status}); self.end_headers(); self.wfile.write({readyz!r}.encode())\n"
        f"h.HTTPServer(('127.0.0.1', {web_port}), R).serve_forever()"
    )
    proc.start([sys.executable, "-c", serve, "ascolto worker"], env=dict(os.environ), cwd=tmp_path)
    (proc.run_dir / "worker.json").write_text(f'{{"web_port": {web_port}, "metrics_port": 9999}}')
    return proc


def test_stack_status_shows_the_demo_worker(tmp_path):
    port = free_port()
    proc = _fake_worker(tmp_path, port)
    try:
        settings = Settings(stack_dir=tmp_path, web_port=1234)
        launcher.wait_answering(
            f"http://127.0.0.1:{port}/", alive=lambda: proc.pid() is not None, log_file=proc.log_file, what="w",
            timeout=30,
        )  # fmt: skip
        status = launcher.BackgroundWorker(settings).status()
        assert (status.pid, status.web_port, status.metrics_port, status.ready) == (proc.pid(), port, 9999, True)

        env = {**os.environ, "ASCOLTO_STACK_DIR": str(tmp_path), "COLUMNS": "250"}
        out = subprocess.run(
            [sys.executable, "-m", "ascolto", "stack", "status"], env=env, capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 3  # Kafka and Elasticsearch are not running in this stack dir
        [row] = [line for line in out.stderr.splitlines() if "worker" in line and str(proc.pid()) in line]
        assert f"API :{port}" in row and "metrics :9999" in row and "yes" in row and "worker.out" in row

        assert launcher.BackgroundWorker(settings).stop() is True
        assert launcher.BackgroundWorker(settings).status().pid is None
    finally:
        proc.stop(timeout=5)
