"""The sources file: every mistake named by file:line and field, all at once; run_many runs several sources."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ascolto import launcher
from ascolto.testing import make_post
from connectors.live import Backoff, Item, LiveSource, SourceRefused, run_many
from connectors.sources_config import (
    BlueskyEntry,
    HttpEntry,
    MastodonEntry,
    RssEntry,
    SourcesConfig,
    SourcesFileError,
    build,
    load_sources,
    parse_sources,
)
from core.errors import ConfigError
from core.settings import Settings
from core.yaml_file import ConfigFileError

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "local" / "sources.example.yaml"


def problems(text: str) -> list[str]:
    with pytest.raises(SourcesFileError) as caught:
        parse_sources(text, source="s.yaml")
    assert isinstance(caught.value, ConfigFileError) and isinstance(caught.value, ConfigError)
    return caught.value.problems


def test_a_good_file_gives_every_source_with_its_options_and_names():
    config = parse_sources(
        """
sources:
  - type: rss
    urls: [http://a.example/feed, http://b.example/feed]
    every: 2m
    once: true
  - type: mastodon
    instance: https://m1.example
    hashtag: comune
  - type: mastodon
    instance: https://m2.example
    timeline: local
    token_env: M2_TOKEN
  - type: bluesky
    keywords: bolletta
  - type: http
    port: 6090
    source: crm
"""
    )
    rss, m1, m2, bluesky, http = config.sources
    assert isinstance(rss, RssEntry) and rss.every.total_seconds() == 120 and rss.once
    assert isinstance(m1, MastodonEntry) and m1.source_name == "mastodon-m1.example-tag-comune"
    assert (
        isinstance(m2, MastodonEntry) and m2.token_env == "M2_TOKEN" and m2.source_name == "mastodon-m2.example-local"
    )
    assert isinstance(bluesky, BlueskyEntry) and bluesky.keywords == ("bolletta",)
    assert isinstance(http, HttpEntry) and http.port == 6090 and http.source_name == "http"
    assert [e.source_name for e in config.sources] == [
        "rss",
        "mastodon-m1.example-tag-comune",
        "mastodon-m2.example-local",
        "bluesky",
        "http",
    ]


def test_the_example_file_loads():
    config = load_sources(EXAMPLE)
    assert config.sources and config.sources[0].source_name == "news"


def test_the_example_file_with_every_entry_uncommented_loads(tmp_path):
    # The commented entries are examples too: uncommented, they must be valid.
    lines = []
    for line in EXAMPLE.read_text().splitlines():
        stripped = line.lstrip()
        if stripped.startswith("# ") and line.startswith("  # ") and not stripped.startswith("# once"):
            body = line.replace("# ", "", 1)
            if body.strip() and not body.strip()[0].isupper() and not body.strip().startswith("#"):
                line = body
        lines.append(line)
    path = tmp_path / "all.yaml"
    path.write_text("\n".join(lines))
    config = load_sources(path)
    assert {e.type for e in config.sources} == {"rss", "mastodon", "bluesky", "reddit", "http"}


def test_an_unknown_type_is_named_with_its_line_and_a_suggestion():
    (problem,) = problems("sources:\n  - type: rss\n    urls: [http://a/f]\n  - type: mastodn\n    instance: x\n")
    assert problem.startswith(
        "s.yaml:4: sources[1]: field `type` 'mastodn' is not a source type; did you mean mastodon?"
    )
    assert "rss, mastodon, bluesky, reddit, http" in problem


def test_an_unknown_field_gets_did_you_mean_and_its_line():
    (problem,) = problems("sources:\n  - type: mastodon\n    name: m\n    instance: https://m.example\n    hashtg: x\n")
    assert problem == "s.yaml:5: source m: field `hashtg` is not a known field; did you mean `hashtag`?"


def test_a_missing_field_is_named_at_its_entry():
    (problem,) = problems("sources:\n  - type: rss\n    every: 5m\n")
    assert problem == "s.yaml:2: sources[0]: field `urls` is missing; add it."


def test_a_secret_in_the_file_is_refused_without_echoing_it_and_the_rest_is_still_checked():
    found = problems(
        "sources:\n  - type: mastodon\n    instance: https://m.example\n    token: s3cr3t-value\n    hashtg: x\n"
        "  - type: reddit\n    name: r\n    subreddits: [italy]\n    client_secret: other-s3cr3t\n"
    )
    assert found[0].startswith("s.yaml:4: sources[0]: field `token` holds a secret")
    assert "token_env" in found[0]
    assert found[1].startswith("s.yaml:5: sources[0]: field `hashtg` is not a known field")
    assert found[2].startswith("s.yaml:9: sources[1]: field `client_secret` holds a secret")
    assert not any("s3cr3t" in p for p in found)
    # The model alone refuses a secret too (not only the file loader).
    with pytest.raises(ValueError, match="secret"):
        SourcesConfig.model_validate({"sources": [{"type": "http", "token": "x"}]})


def test_a_token_written_where_a_variable_name_goes_is_refused_without_echoing_it():
    (problem,) = problems("sources:\n  - type: mastodon\n    instance: https://m.example\n    token_env: abc-123.xyz\n")
    assert problem.startswith("s.yaml:4: sources[0]: field `token_env`: write the name of an environment variable")
    assert "abc-123.xyz" not in problem


def test_duplicate_names_written_or_derived_are_named_with_both_lines():
    found = problems(
        "sources:\n"
        "  - {type: bluesky, name: b}\n"
        "  - {type: bluesky, name: b}\n"
        "  - {type: rss, urls: [http://a/f]}\n"
        "  - {type: rss, urls: [http://b/f]}\n"
    )
    assert found == [
        "s.yaml:3: source b: field `name` is already used by the source at line 2; give each source its own name.",
        "s.yaml:5: sources[3]: this rss source would be named rss like the source at line 4; "
        "give each a `name:` of its own (it names its checkpoint).",
    ]


def test_bad_yaml_names_its_line():
    (problem,) = problems("sources:\n  - type: rss\n    urls: [http://a/f\n")
    assert problem.startswith("s.yaml:4: this is not valid YAML")


def test_a_repeated_key_is_named():
    found = problems("sources:\n  - type: http\n    port: 6080\n    port: 6081\n")
    assert found == ["s.yaml:4: field `sources[0].port` is written twice in the same place; keep one."]


def test_an_empty_or_list_file_says_what_it_must_be():
    assert problems("")[0].startswith("s.yaml:1: the file must be a mapping with a list `sources:`")
    assert problems("- type: rss\n")[0].startswith("s.yaml:1: the file must be a mapping")
    assert problems("sources: []\n") == [
        "s.yaml:1: the file: list at least one source (see deploy/local/sources.example.yaml)."
    ]


def test_bad_values_are_told_per_field_at_their_lines():
    found = problems(
        "sources:\n"
        "  - type: rss\n    urls: [http://a/f]\n    every: 5\n"
        "  - type: mastodon\n    name: m\n    instance: 'ftp://x'\n"
        "  - type: http\n    name: h\n    port: 99999\n"
        "  - type: reddit\n    name: r\n    subreddits: [a]\n    kinds: [posts, votes]\n"
    )
    assert found[0].startswith("s.yaml:4: sources[0]: field `every`: 5 is not a duration")
    assert found[1].startswith("s.yaml:5: source m: ")
    assert "not an instance address" in found[1]
    assert found[2].startswith("s.yaml:10: source h: field `port`:")
    assert found[3].startswith("s.yaml:14: source r: field `kinds[1]`:")


def test_a_file_that_cannot_be_read_says_which():
    with pytest.raises(SourcesFileError, match=r"Cannot read the sources file .*nope.yaml .*--config"):
        load_sources("/nonexistent/nope.yaml")


def test_build_needs_the_ingest_credentials_from_the_environment():
    config = parse_sources("sources:\n  - type: http\n")
    with pytest.raises(ConfigError, match="ASCOLTO_INGEST_TOKEN"):
        build(config, Settings(ingest_token=None, ingest_secret=None))
    plan = build(config, Settings(ingest_token="t0ken"))
    assert list(plan.servers) == ["http"] and not plan.sources


def test_build_gives_each_mastodon_entry_its_token_from_its_variable(monkeypatch):
    monkeypatch.setenv("M1_TOKEN", "tok-1")
    config = parse_sources(
        "sources:\n"
        "  - {type: mastodon, instance: 'https://m1.example', token_env: M1_TOKEN}\n"
        "  - {type: mastodon, instance: 'https://m2.example', token_env: M2_TOKEN_UNSET}\n"
        "  - {type: rss, urls: ['http://a/f'], every: 1m}\n"
    )
    plan = build(config, Settings())
    m1, m2, rss = plan.sources.values()
    assert m1.token == "tok-1" and m2.token is None  # type: ignore[attr-defined]
    assert rss.every == 60  # type: ignore[attr-defined]
    assert "tok-1" not in " ".join(plan.descriptions.values())


# --- run_many ---------------------------------------------------------------------------------------------------
class FakeProducer:
    def __init__(self) -> None:
        self.handed: list[str] = []
        self.acked: list[str] = []

    def publish(self, post: dict[str, Any]) -> bool:
        self.handed.append(post["id"])
        return True

    def reject(self, original: bytes, reason: str, key: str | None = None) -> None:
        raise AssertionError(reason)

    def flush(self) -> None:
        self.acked = list(self.handed)


class Counting(LiveSource):
    """Posts ``prefix``-1..n, checkpoint the last number; refuses at once when ``refuse``."""

    def __init__(self, prefix: str, n: int, refuse: bool = False) -> None:
        self.name, self.prefix, self.n, self.refuse = prefix, prefix, n, refuse

    async def stream(self, checkpoint: dict[str, Any]) -> AsyncIterator[Item]:
        if self.refuse:
            raise SourceRefused(f"{self.prefix}: the token was refused; set {self.prefix.upper()}_TOKEN.")
        for i in range(int(checkpoint.get("last", 0)) + 1, self.n + 1):
            yield Item(make_post(f"{self.prefix} {i}", native_id=f"{self.prefix}-{i}"), {"last": i})
            await asyncio.sleep(0)


def test_run_many_runs_every_source_with_its_own_checkpoint_and_a_refused_one_stops_alone(tmp_path):
    producer = FakeProducer()
    told: list[tuple[str, str]] = []

    async def main() -> Any:
        sources = {"a": Counting("a", 30), "b": Counting("b", 20), "bad": Counting("bad", 5, refuse=True)}
        return await run_many(
            sources,
            producer,  # type: ignore[arg-type]
            tmp_path,
            stop=asyncio.Event(),
            on_refused=lambda name, sentence: told.append((name, sentence)),
            backoff=lambda: Backoff(initial=0.001),
        )

    report = asyncio.run(main())
    assert report.reports["a"].published == 30 and report.reports["b"].published == 20
    assert told == [("bad", "bad: the token was refused; set BAD_TOKEN.")] and report.refused == dict(told)
    assert len(producer.acked) == 50 and len(set(producer.acked)) == 50
    assert (tmp_path / "a.json").read_text() == '{"last": 30}'
    assert (tmp_path / "b.json").read_text() == '{"last": 20}'
    assert not (tmp_path / "bad.json").exists()

    # A second run resumes each from its own checkpoint: nothing is published again.
    producer.handed.clear()
    asyncio.run(main())
    assert producer.handed == []


def test_run_many_keeps_a_server_running_until_stop_even_when_every_source_ended(tmp_path):
    producer = FakeProducer()
    served: list[str] = []

    async def server(_producer: Any, stop: asyncio.Event) -> None:
        served.append("up")
        await stop.wait()
        served.append("down")

    async def main() -> Any:
        stop = asyncio.Event()
        task = asyncio.create_task(
            run_many({"a": Counting("a", 3)}, producer, tmp_path, stop=stop, servers={"http": server})  # type: ignore[arg-type]
        )
        deadline = asyncio.get_running_loop().time() + 5
        while not (tmp_path / "a.json").exists() and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert not task.done() and served == ["up"]
        stop.set()
        return await asyncio.wait_for(task, 5)

    report = asyncio.run(main())
    assert served == ["up", "down"] and report.reports["a"].published == 3 and not report.refused


# --- the commands -------------------------------------------------------------------------------------------------
def test_connect_check_lists_what_would_run_and_a_bad_file_exits_1_naming_the_line(tmp_path):
    from typer.testing import CliRunner

    from ascolto.cli.main import app

    good = tmp_path / "good.yaml"
    good.write_text("sources:\n  - {type: rss, name: news, urls: ['http://a.example/f']}\n")
    result = CliRunner().invoke(app, ["connect", "--check", "--config", str(good)])
    assert result.exit_code == 0, result.output
    assert "news: rss: 1 feeds (http://a.example/f)" in result.output

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - type: rss\n    urls: [http://a/f]\n    evry: 5m\n")
    result = launcher.run(["connect", "--check", "--config", str(bad)], env=os.environ, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "bad.yaml:4: sources[0]: field `evry` is not a known field; did you mean `every`?" in result.stderr


def test_demo_with_a_bad_sources_file_says_so_before_starting_anything(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from ascolto.cli import demo_cmd
    from ascolto.cli.main import app

    def must_not_start(**_: Any) -> None:
        raise AssertionError("the stack was started before the sources file was checked")

    monkeypatch.setattr(demo_cmd, "up", must_not_start)
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - type: rsss\n")
    result = CliRunner().invoke(app, ["demo", "--source", str(bad)])
    assert isinstance(result.exception, SourcesFileError)  # `ascolto` prints it as one sentence, exit 1
    assert "bad.yaml:2: sources[0]: field `type` 'rsss' is not a source type; did you mean rss?" in str(
        result.exception
    )


def test_a_reddit_entry_gets_the_checkpoint_name_of_its_command_and_credentials_from_the_settings():
    config = parse_sources("sources:\n  - {type: reddit, subreddits: [milano, italy], kinds: [posts], every: 1m}\n")
    (entry,) = config.sources
    assert entry.source_name == "reddit-italy+milano-posts"  # as `ascolto connect reddit` names it
    with pytest.raises(ConfigError, match="ASCOLTO_REDDIT_CLIENT_ID"):
        build(config, Settings(reddit_client_id=None, reddit_client_secret=None))
    plan = build(config, Settings(reddit_client_id="app", reddit_client_secret="s3cr3t"))
    source = plan.sources["reddit-italy+milano-posts"]
    assert source.every == 60 and source.kinds == ("posts",)  # type: ignore[attr-defined]
    assert "s3cr3t" not in " ".join(plan.descriptions.values())
    (problem,) = problems("sources:\n  - type: reddit\n    subreddits: ['not a sub!']\n")
    assert problem.startswith("s.yaml:2: sources[0]: this source: ") and "subreddit" in problem
