"""`ascolto stack up` as root: the Elasticsearch user's directories cannot steer root's writes or chowns.

The Elasticsearch user owns config/, data/ and logs/; whatever it plants there (a symbolic link
to a file of root's, a hard link) must not make root write into, or give away, that file.
"""

from __future__ import annotations

import os
import stat
import types
from pathlib import Path

import pytest

import ascolto.stack.elasticsearch as es_module
from ascolto.stack import process as process_module
from ascolto.stack.elasticsearch import LocalElasticsearch
from ascolto.stack.ownership import chown_tree, open_own_file, private_dir, write_own_file
from ascolto.stack.process import ManagedProcess
from core.settings import Settings

NOBODY = 65534  # an unprivileged uid/gid present on Debian ("nobody"/"nogroup")

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


def _root_file(path: Path, text: str = "root's secret\n") -> Path:
    path.write_text(text)
    os.chown(path, 0, 0)
    return path


def _untouched(path: Path, text: str = "root's secret\n") -> bool:
    st = os.lstat(path)
    return st.st_uid == 0 and st.st_gid == 0 and path.read_text() == text


@as_root
def test_chown_tree_changes_the_tree_but_never_what_a_link_points_to(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = _root_file(outside / "shadow")
    victim_dir = outside / "etc"
    victim_dir.mkdir()
    inner_victim = _root_file(victim_dir / "passwd")
    hard_victim = _root_file(outside / "hard")

    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "data.bin").write_text("x")
    (tree / "link-to-file").symlink_to(victim)
    (tree / "sub" / "link-to-dir").symlink_to(victim_dir, target_is_directory=True)
    os.link(hard_victim, tree / "hard-link")

    skipped = chown_tree(tree, NOBODY, NOBODY)

    for own in (tree, tree / "sub", tree / "sub" / "data.bin"):
        assert (os.lstat(own).st_uid, os.lstat(own).st_gid) == (NOBODY, NOBODY), own
    assert _untouched(victim) and _untouched(inner_victim) and _untouched(hard_victim)
    assert os.lstat(victim_dir).st_uid == 0
    # The links themselves are left as they were, too.
    assert os.lstat(tree / "link-to-file").st_uid == 0
    assert skipped == ["hard-link"]


@as_root
def test_root_files_are_never_written_through_links_in_a_directory_another_user_owned(tmp_path):
    victim_pid, victim_out = _root_file(tmp_path / "victim-pid"), _root_file(tmp_path / "victim-out")
    run = tmp_path / "run"
    run.mkdir(mode=0o777)
    os.chown(run, NOBODY, NOBODY)  # as an older ascolto left it: handed to the server's user
    (run / "svc.pid").symlink_to(victim_pid)
    (run / "svc.out").symlink_to(victim_out)
    os.lchown(run / "svc.pid", NOBODY, NOBODY)

    proc = ManagedProcess("svc", run, marker="never-matches")
    proc.start(["true"], env={}, cwd=tmp_path)

    assert _untouched(victim_pid) and _untouched(victim_out)
    st = os.stat(run)
    assert st.st_uid == 0 and not st.st_mode & 0o022, "root's run directory must be writable by root only"
    for name in ("svc.pid", "svc.out"):
        own = os.lstat(run / name)
        assert stat.S_ISREG(own.st_mode) and own.st_uid == 0, name
    assert int((run / "svc.pid").read_text()) > 0


def test_own_file_helpers_replace_links_instead_of_following_them(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    (tmp_path / "a").symlink_to(victim)
    (tmp_path / "b").symlink_to(victim)

    write_own_file(tmp_path / "a", b"new\n")
    os.close(open_own_file(tmp_path / "b"))

    assert victim.read_text() == "keep\n"
    assert (tmp_path / "a").read_text() == "new\n" and not (tmp_path / "a").is_symlink()
    assert (tmp_path / "b").is_file() and not (tmp_path / "b").is_symlink()


def test_private_dir_refuses_a_symbolic_link(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "run").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(Exception, match="not a symbolic link"):
        private_dir(tmp_path / "run")


@as_root
def test_elasticsearch_launch_as_root_follows_no_link_its_user_planted(tmp_path, monkeypatch):
    """The whole launch as root, up to the process start: config written, directories handed over."""
    monkeypatch.setattr(es_module, "_user_can_reach", lambda name, path: True)
    monkeypatch.setattr(LocalElasticsearch, "install_analysis_plugin", lambda self: None)
    started: list[list[str]] = []
    real_popen = process_module.subprocess.Popen

    def fake_popen(argv, *args, **kwargs):
        if argv[0] != "setpriv":  # `java -version` and the like run for real
            return real_popen(argv, *args, **kwargs)
        started.append(list(argv))
        return types.SimpleNamespace(pid=os.getpid())

    monkeypatch.setattr(process_module.subprocess, "Popen", fake_popen)
    es = LocalElasticsearch(Settings(stack_dir=tmp_path / "stack", stack_es_user="nobody"))
    assert es.as_root

    victims = {name: _root_file(tmp_path / f"victim-{name}") for name in ("yml", "pid", "out", "log")}
    # What the server's user can do to the directories it owns after a first start.
    for name in ("config", "logs", "run"):
        (es.home / name).mkdir(parents=True)
        os.chown(es.home / name, NOBODY, NOBODY)
    (es.home / "config" / "elasticsearch.yml").symlink_to(victims["yml"])
    (es.home / "run" / "elasticsearch.pid").symlink_to(victims["pid"])
    (es.home / "run" / "elasticsearch.out").symlink_to(victims["out"])
    (es.home / "logs" / "ascolto-local.log").symlink_to(victims["log"])

    es.launch()

    assert started and started[0][0] == "setpriv"
    for name, victim in victims.items():
        assert _untouched(victim), f"root's file behind the {name} link was changed"
    yml = es.home / "config" / "elasticsearch.yml"
    assert not yml.is_symlink() and os.stat(yml).st_uid == NOBODY and "http.port" in yml.read_text()
    assert os.stat(es.home / "data").st_uid == NOBODY
    run = os.stat(es.home / "run")
    assert run.st_uid == 0 and not run.st_mode & 0o022
    assert (es.home / "run" / "elasticsearch.pid").read_text().strip() == str(os.getpid())
