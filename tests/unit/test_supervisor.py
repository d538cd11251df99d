"""The supervisor of ``ascolto worker --processes N``: slots, settings, restarts and shutdown,
with tiny real child processes standing in for workers."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

from ascolto import launcher
from ascolto.supervisor import RestartPolicy, Supervisor, describe_exit, plan
from ascolto.testing import wait_for
from core.errors import AscoltoError, ConfigError
from core.kafka import warn_few_partitions
from core.settings import Settings

# A stand-in worker: says it is up, then runs until SIGTERM, which it records in a file named after its pid.
RUNS_UNTIL_TERM = """
import os, pathlib, signal, sys, time
def bye(*_):
    pathlib.Path(sys.argv[1], f"{os.getpid()}.term").write_text("clean")
    sys.exit(0)
signal.signal(signal.SIGTERM, bye)
print("up", os.getpid(), os.environ["ASCOLTO_WEB_PORT"], os.environ["ASCOLTO_WORKER_PROCESSES"], flush=True)
while True:
    time.sleep(0.05)
"""


class Output(io.StringIO):
    """What the supervisor wrote, readable while it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            return super().write(text)

    def text(self) -> str:
        with self.lock:
            return self.getvalue()


class Running:
    """A supervisor running in a thread (signals are for the main thread: stop() stands in)."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor
        self.result: int | BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self.supervisor.run(handle_signals=False)
        except BaseException as exc:
            self.result = exc

    def finish(self, timeout: float = 30) -> int | BaseException | None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the supervisor did not return"
        return self.result


def python(script: str, *args: str):
    return lambda slot: [sys.executable, "-c", script, *args]


def supervisor(tmp_path: Path, script: str, *, processes: int = 1, ready: bool = True, **policy: float) -> Supervisor:
    settings = Settings(web_port=7100, metrics_port=7200, data_dir=tmp_path / "data")
    return Supervisor(
        settings,
        plan(settings, processes),
        command=python(script, str(tmp_path)),
        is_ready=lambda slot: ready,
        policy=RestartPolicy(**{"first_delay": 0.05, "max_delay": 1.0, "stable_seconds": 60.0, **policy}),
        out=Output(),
        stop_timeout=10,
    )


def output(sup: Supervisor) -> str:
    assert isinstance(sup._out, Output)
    return sup._out.text()


# --- slots and settings ------------------------------------------------------------------------
def test_each_process_gets_the_next_ports_and_its_own_data_dir(tmp_path):
    slots = plan(Settings(web_port=6066, metrics_port=9464, data_dir=tmp_path), 3)
    assert [(s.index, s.web_port, s.metrics_port) for s in slots] == [(0, 6066, 9464), (1, 6067, 9465), (2, 6068, 9466)]
    assert [s.data_dir for s in slots] == [tmp_path / f"process-{i}" for i in range(3)]
    assert len({s.data_dir for s in slots}) == 3


def test_a_child_reads_its_slot_and_never_supervises_in_turn(tmp_path):
    slot = plan(Settings(web_port=6066, metrics_port=9464, data_dir=tmp_path), 2)[1]
    child = launcher.settings_of(launcher.child_env(slot.overrides(), base={"ASCOLTO_WORKER_PROCESSES": "4"}))
    assert (child.worker_processes, child.web_port, child.metrics_port) == (1, 6067, 9465)
    assert child.data_dir == tmp_path / "process-1"


def test_disabled_ports_stay_disabled():
    slots = plan(Settings(web_port=0, metrics_port=9464), 2)
    assert [(s.web_port, s.metrics_port) for s in slots] == [(0, 9464), (0, 9465)]
    assert slots[0].where() == "metrics :9464"


def test_port_ranges_that_collide_or_overflow_are_one_sentence():
    with pytest.raises(ConfigError, match="overlap; move ASCOLTO_WEB_PORT or ASCOLTO_METRICS_PORT apart"):
        plan(Settings(web_port=9000, metrics_port=9003), 4)
    plan(Settings(web_port=9000, metrics_port=9004), 4)  # 9000..9003 and 9004..9007: fine
    with pytest.raises(ConfigError, match="ASCOLTO_METRICS_PORT=65535 leaves no room for 2"):
        plan(Settings(metrics_port=65535), 2)


def test_settings_default_to_one_process_and_room_for_twelve(monkeypatch):
    assert Settings().worker_processes == 1
    assert Settings().topic_partitions == 12
    monkeypatch.setenv("ASCOLTO_WORKER_PROCESSES", "3")
    assert Settings().worker_processes == 3


def test_the_command_line_refuses_overlapping_ports_before_starting_anything():
    env = launcher.child_env({"web_port": 9000, "metrics_port": 9001})
    result = launcher.run(["worker", "--processes", "2"], env=env, timeout=120)
    assert result.returncode == 1
    assert "overlap; move ASCOLTO_WEB_PORT" in result.stderr and "Traceback" not in result.stderr


def test_the_launcher_and_the_supervisor_agree_on_where_each_process_answers(tmp_path):
    settings = Settings(web_port=6066, metrics_port=9464)
    assert launcher.readiness_urls(settings, 2) == [
        f"http://127.0.0.1:{s.web_port}/api/stats" for s in plan(settings, 2)
    ]
    metrics_only = Settings(web_port=0, metrics_port=9464)
    assert launcher.readiness_urls(metrics_only, 2) == [
        "http://127.0.0.1:9464/metrics",
        "http://127.0.0.1:9465/metrics",
    ]


def test_exit_descriptions():
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(3) == "exited with code 3"


# --- running children ----------------------------------------------------------------------
def test_children_get_their_slot_and_a_killed_one_is_started_again_then_all_stop_cleanly(tmp_path):
    sup = supervisor(tmp_path, RUNS_UNTIL_TERM, processes=2)
    run = Running(sup)
    first = wait_for(lambda: len(sup.pids()) == 2 and sup.pids(), timeout=30, what="two children")
    wait_for(lambda: output(sup).count("ready (pid") == 2, timeout=30, what="both children ready")
    text = output(sup)
    assert f"[worker 0] up {first[0]} 7100 1" in text and f"[worker 1] up {first[1]} 7101 1" in text

    os.kill(first[1], signal.SIGKILL)
    wait_for(lambda: len(sup.pids()) == 2 and first[1] not in sup.pids(), timeout=30, what="a new worker 1")
    assert first[0] in sup.pids()  # its sibling went on untouched
    # The new child can be up before the line about the old one is read back: wait for the line too.
    killed = f"[supervisor] worker 1 (pid {first[1]}) killed by SIGKILL"
    wait_for(lambda: killed in output(sup), timeout=30, what="the kill reported")
    assert "restarting it in 0.05s" in output(sup)

    children = sup.pids()
    sup.stop()
    assert run.finish() == 0
    assert sorted(p.name for p in tmp_path.glob("*.term")) == sorted(f"{pid}.term" for pid in children)


def test_a_child_dying_young_again_and_again_waits_longer_each_time(tmp_path):
    # (start_failures=99: never giving up, to see the delays grow)
    sup = supervisor(tmp_path, "import sys; sys.exit(2)", start_failures=99, max_delay=0.2)
    run = Running(sup)
    wait_for(lambda: output(sup).count("restarting it in 0.2s") >= 2, timeout=30, what="the capped back-off")
    sup.stop()
    run.finish()
    delays = [line.rsplit(" ", 1)[1] for line in output(sup).splitlines() if "restarting it in" in line]
    assert delays[:3] == ["0.05s", "0.1s", "0.2s"] and set(delays[3:]) == {"0.2s"}


def test_a_child_that_never_starts_ends_the_supervisor_with_one_sentence(tmp_path):
    script = "import sys; print('Cannot reach Kafka at nowhere: start it.', flush=True); sys.exit(1)"
    sup = supervisor(tmp_path, script, processes=2, ready=False, start_failures=3)
    result = Running(sup).finish(timeout=60)
    assert isinstance(result, AscoltoError)
    assert str(result).startswith("Worker process ")
    assert "exited with code 1 3 times in a row before it answered" in str(result)
    assert "[worker 0] Cannot reach Kafka at nowhere: start it." in output(sup)


def test_a_child_ignoring_sigterm_is_killed_after_the_stop_timeout(tmp_path):
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True)\n" + (
        "while True: time.sleep(0.05)"
    )
    sup = supervisor(tmp_path, script)
    sup.stop_timeout = 0.5
    run = Running(sup)
    wait_for(lambda: "[worker 0] up" in output(sup), timeout=30, what="the child")
    sup.stop()
    assert run.finish() == 0
    assert "did not stop in 0.5s; killing" in output(sup)


# --- partitions -------------------------------------------------------------------------------
def test_too_few_partitions_for_the_processes_is_one_warning_saying_how_to_add_some(caplog):
    settings = Settings(kafka_brokers="k1:9092,k2:9092")
    with caplog.at_level(logging.WARNING, logger="core.kafka"):
        warn_few_partitions(settings, {"ascolto.posts.raw": 3, "ascolto.posts.enriched": 12}, processes=4)
    [record] = caplog.records
    message = record.getMessage()
    assert message.startswith("Only 3 of the 4 worker processes get work")
    assert "fewer partitions (ascolto.posts.raw: 3)" in message
    assert "kafka-topics.sh --bootstrap-server k1:9092 --alter --topic ascolto.posts.raw --partitions 12" in message

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="core.kafka"):
        warn_few_partitions(settings, {"ascolto.posts.raw": 12, "ascolto.posts.enriched": 12}, processes=12)
    assert caplog.records == []


# --- the deploy manifests say the same ---------------------------------------------------------
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def test_prometheus_scrapes_the_ports_the_supervisor_gives_its_processes():
    local = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    [worker_job] = [job for job in local["scrape_configs"] if job["job_name"] == "ascolto-worker"]
    targets = worker_job["static_configs"][0]["targets"]
    slots = plan(Settings(), len(targets))
    assert targets == [f"127.0.0.1:{s.metrics_port}" for s in slots]

    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    worker = compose["services"]["worker"]
    processes = int(worker["environment"]["ASCOLTO_WORKER_PROCESSES"])
    assert worker["environment"]["ASCOLTO_METRICS_BIND"] == "0.0.0.0"
    scraped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus-compose.yml").read_text())
    [job] = scraped["scrape_configs"]
    assert sorted(sd["port"] for sd in job["dns_sd_configs"]) == [s.metrics_port for s in plan(Settings(), processes)]
    assert all(sd["names"] == ["worker"] for sd in job["dns_sd_configs"])
    assert "prometheus-compose.yml" in " ".join(compose["services"]["prometheus"]["command"])


def test_the_compose_prometheus_config_is_valid(require_tool):
    promtool = require_tool("promtool", "prometheus")
    result = subprocess.run(
        [promtool, "check", "config", str(DEPLOY / "prometheus" / "prometheus-compose.yml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
