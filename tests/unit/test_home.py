"""Where ascolto keeps state: a per-user directory unless configured, never relative to the code."""

from pathlib import Path

from platformdirs import user_data_dir

from ascolto import resources
from core.settings import Settings

CODE = Path(__file__).resolve().parents[2]


def test_default_home_is_the_per_user_data_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("ASCOLTO_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # where Linux puts it; macOS ignores this
    settings = Settings()
    assert settings.home == Path(user_data_dir("ascolto")).resolve()
    assert settings.stack_dir == settings.home / "stack"
    assert settings.data_dir == settings.home / "data"


def test_ascolto_home_moves_everything(monkeypatch, tmp_path):
    monkeypatch.setenv("ASCOLTO_HOME", str(tmp_path / "state"))
    settings = Settings()
    assert (settings.stack_dir, settings.data_dir) == (tmp_path / "state" / "stack", tmp_path / "state" / "data")


def test_each_directory_can_be_set_on_its_own(tmp_path):
    settings = Settings(home=tmp_path, stack_dir=tmp_path / "servers")
    assert settings.stack_dir == tmp_path / "servers" and settings.data_dir == tmp_path / "data"
    assert Settings(home="~/somewhere").home == Path.home().resolve() / "somewhere"


def test_deploy_files_are_found_in_the_checkout():
    assert resources.deploy_path("local", "kafka", "pom.xml") == CODE / "deploy" / "local" / "kafka" / "pom.xml"
    assert resources.deploy_path("kibana", "ascolto.ndjson").is_file()


def test_an_installed_package_uses_its_own_copy(monkeypatch, tmp_path):
    (tmp_path / "kibana").mkdir()
    (tmp_path / "kibana" / "ascolto.ndjson").write_text("{}\n")
    monkeypatch.setattr(resources, "_PACKAGED", tmp_path)
    assert resources.deploy_path("kibana", "ascolto.ndjson") == tmp_path / "kibana" / "ascolto.ndjson"
