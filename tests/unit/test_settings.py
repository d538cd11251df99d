import pytest

from core.errors import ConfigError
from core.settings import Settings, get_settings
from elastic.client import unreachable


def test_defaults_point_at_the_local_stack(monkeypatch):
    monkeypatch.delenv("ASCOLTO_KAFKA_BROKERS")  # set to a closed port for every unit test
    monkeypatch.delenv("ASCOLTO_ES_URL")
    settings = Settings(stack_kafka_port=19092, stack_es_port=19200)
    assert settings.kafka_brokers == "127.0.0.1:19092"
    assert settings.es_url == "http://127.0.0.1:19200"
    assert settings.topic("posts.raw") == "ascolto.posts.raw"


def test_bad_environment_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("ASCOLTO_INDEX_BATCH_SIZE", "lots")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="ASCOLTO_INDEX_BATCH_SIZE"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_secrets_never_print():
    settings = Settings(es_url="https://elastic:s3cret@es.example:9243", es_password="hunter2", kafka_password="pw")
    assert "s3cret" not in str(unreachable(settings))
    assert "https://***@es.example:9243" in str(unreachable(settings))
    assert "hunter2" not in repr(settings) and "'pw'" not in repr(settings)
