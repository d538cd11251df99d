import subprocess
import sys

from ascolto.stack.process import ManagedProcess


def test_stale_pid_file_is_ignored_and_removed(tmp_path):
    proc = ManagedProcess("svc", tmp_path, marker="never-matches-anything")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    proc.pid_file.write_text(f"{dead.pid}\n")
    assert proc.pid() is None
    assert not proc.pid_file.exists()


def test_reused_pid_of_another_program_is_not_ours(tmp_path):
    proc = ManagedProcess("svc", tmp_path, marker="kafka.Kafka")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        proc.pid_file.write_text(f"{other.pid}\n")
        assert proc.pid() is None
    finally:
        other.kill()
        other.wait()


def test_start_and_stop_a_process_group(tmp_path):
    proc = ManagedProcess("sleeper", tmp_path, marker="sleeper-marker")
    pid = proc.start(
        [sys.executable, "-c", "import time, sys; print('up', flush=True); time.sleep(60)", "sleeper-marker"],
        env={},
        cwd=tmp_path,
    )
    assert proc.pid() == pid
    assert proc.stop(timeout=10) is True
    assert proc.pid() is None and not proc.pid_file.exists()
    assert proc.stop() is False
