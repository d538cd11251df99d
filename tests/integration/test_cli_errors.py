"""Errors a user can hit print one sentence that says what to do, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from ascolto.testing import free_port


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ascolto", *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


def assert_one_clear_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr, result.stderr


def test_kafka_down(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"text": "hello"}\n')
    result = run("connect", "file", str(tmp_path / "p.jsonl"), ASCOLTO_KAFKA_BROKERS=f"127.0.0.1:{free_port()}")
    assert_one_clear_error(result, "Cannot reach Kafka")


def test_elasticsearch_down():
    result = run("search", "anything", ASCOLTO_ES_URL=f"http://127.0.0.1:{free_port()}")
    assert_one_clear_error(result, "Cannot reach Elasticsearch")


def test_bad_config():
    assert_one_clear_error(run("search", "x", ASCOLTO_INDEX_BATCH_SIZE="lots"), "ASCOLTO_INDEX_BATCH_SIZE")


def test_port_taken_and_java_missing(tmp_path):
    ports = {
        "ASCOLTO_STACK_DIR": str(tmp_path / "stack"),
        "ASCOLTO_STACK_KAFKA_PORT": str(free_port()),
        "ASCOLTO_STACK_KAFKA_CONTROLLER_PORT": str(free_port()),
        "ASCOLTO_STACK_KAFKA_SASL_SSL_PORT": str(free_port()),
        "ASCOLTO_STACK_ES_PORT": str(free_port()),
        "ASCOLTO_STACK_ES_TRANSPORT_PORT": str(free_port()),
    }
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", int(ports["ASCOLTO_STACK_KAFKA_PORT"])))
        squatter.listen()
        assert_one_clear_error(run("stack", "up", **ports), "is taken by another program")
    no_java = run("stack", "up", "--only", "kafka", PATH="/usr/sbin:/sbin", JAVA_HOME="", **ports)
    assert_one_clear_error(no_java, "Java 17 or newer is needed")


def test_stack_up_is_idempotent():
    result = run("stack", "up")
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("already running") == 2
    assert run("stack", "status").returncode == 0
