"""`ascolto alerts`: what list/show/check print, the window counts a backtest replays (shaped from a fake
Elasticsearch), and the alerts index sink (dead letters, waiting for Elasticsearch, the later state winning)."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from elastic_transport import ConnectionError as TransportConnectionError
from typer.testing import CliRunner

import elastic.alerts
from ascolto.cli.alerts_cmd import alert_row, backtest_total, describe_alert
from ascolto.cli.main import app
from core.errors import ElasticsearchUnavailable
from core.settings import Settings
from elastic.alerts import PostSelection, window_counts
from schemas import alert_id, validate
from streams.alerting.tracker import Finding
from streams.alerts_index_agent import AlertsSink
from streams.batching import Message

START, END = "2026-01-01T10:00:00.000Z", "2026-01-01T10:10:00.000Z"


def firing(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": alert_id("billing_negative", "billing", START, END),
        "rule": "billing_negative",
        "key": "billing",
        "window_start": START,
        "window_end": END,
        "metric": "negative",
        "observed": 48,
        "baseline": 5.0,
        "score": 21.5,
        "severity": "critical",
        "sample_post_ids": ["test:1"],
        "created_at": "2026-01-01T10:07:12.000Z",
        "schema_version": 1,
        "status": "firing",
        "kind": "negative_spike",
        "key_kind": "topic",
        "language": "en",
        "summary": "negative posts about billing: 48 in 10 min, usually 5 ± 2, 9.6×",
        "window_minutes": 10,
        "total": 60,
        "negative": 48,
        "share_negative": 0.8,
        "share_baseline": 0.25,
        "baseline_std": 2.0,
        "baseline_source": "ewma",
        "ratio": 9.6,
        "top_terms": [{"term": "#bolletta", "count": 30}, {"term": "refund", "count": 12}],
        "samples": [
            {"id": "test:1", "text": "billed twice, again", "author": "anna", "sentiment": "negative"},
            {"id": "test:2", "text": "no refund yet", "author": "marco"},
        ],
        "search": {
            "cli": "ascolto search --topic billing --sentiment negative --since 2026-01-01T10:00:00Z",
            "url": "http://127.0.0.1:6066/api/search?topic=billing&sentiment=negative",
        },
        "notify": True,
    }
    doc.update(over)
    validate("alert", doc)
    return doc


def resolved(**over: Any) -> dict[str, Any]:
    resolution = {
        "window_start": "2026-01-01T10:30:00.000Z",
        "window_end": "2026-01-01T10:40:00.000Z",
        "observed": 4,
        "summary": "negative posts about billing back to usual: 4 in 10 min",
    }
    return firing(status="resolved", resolved_at="2026-01-01T10:40:01.000Z", resolution=resolution, **over)


# --- list / show rendering --------------------------------------------------------------------------
def test_a_list_row_has_time_status_severity_rule_key_summary_and_id() -> None:
    row = alert_row(firing())
    assert row == (
        "2026-01-01 10:07",
        "firing",
        "critical",
        "billing_negative",
        "billing",
        "negative posts about billing: 48 in 10 min, usually 5 ± 2, 9.6×",
        firing()["id"],
    )
    assert alert_row(resolved())[1] == "resolved"
    # An alert of the first producers (no status, no summary) still has a row.
    bare = {k: v for k, v in firing().items() if k not in ("status", "summary")}
    assert alert_row(bare)[1:2] == ("firing",)
    assert alert_row(bare)[5] == "negative 48"


def test_show_gives_what_a_reader_needs_to_act() -> None:
    text = "\n".join(describe_alert(firing()))
    for expected in (
        firing()["id"],
        "negative posts about billing: 48 in 10 min, usually 5 ± 2, 9.6×",
        "48 negative, usually 5 ± 2 (ewma baseline)",
        "9.6×",
        "60 in the window, 48 negative (80%, usually 25%)",
        "#bolletta (30), refund (12)",
        "anna: billed twice, again",
        "marco: no refund yet",
        "ascolto search --topic billing --sentiment negative",
        "/api/search?topic=billing&sentiment=negative",
        "2026-01-01 10:00 → 2026-01-01 10:10 UTC",
    ):
        assert expected in text, expected
    assert "resolved" not in text


def test_show_of_a_resolved_alert_adds_its_resolution() -> None:
    text = "\n".join(describe_alert(resolved()))
    assert "[resolved, critical]" in text
    assert "resolved 2026-01-01 10:40 UTC" in text
    assert "negative posts about billing back to usual: 4 in 10 min" in text
    assert "window 2026-01-01 10:30 → 2026-01-01 10:40, observed 4" in text


def test_backtest_total_counts_firings_and_keys() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    found = [
        Finding("billing", "fire", at, at, "x"),
        Finding("billing", "resolve", at, at, "x"),
        Finding("billing", "fire", at, at, "x"),
        Finding("outage", "fire", at, at, "x"),
    ]
    assert backtest_total("r", found, "7d") == "r would have fired 3 times for 2 keys since 7d (1 resolved)"
    assert backtest_total("r", found[3:], "7d") == "r would have fired once for 1 key since 7d (0 resolved)"
    assert backtest_total("r", [], "24h") == "r would not have fired since 24h"


# --- check ----------------------------------------------------------------------------------------------
def test_check_prints_each_problem_with_file_line_and_field(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: billing\n    kind: negative_spike\n    window: 7m\n    treshold_cur: 4\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["alerts", "check", str(rules)])
    assert result.exit_code == 1
    out = result.output
    assert f"{rules}:4:" in out and "window" in out
    assert f"{rules}:5:" in out and "treshold_cur" in out
    assert "2 problem(s)" in out
    assert "Traceback" not in out


def test_check_lists_the_rules_of_a_good_file() -> None:
    path = Path(__file__).parents[2] / "streams/alerting/rule_examples/rules.en.yaml"
    result = CliRunner().invoke(app, ["alerts", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "4 rules OK" in result.output
    assert (
        "negative_by_topic: negative_spike, key topic, window 10m, subscribers: webhook, slack, email" in result.output
    )


def test_check_without_a_file_says_how_to_name_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASCOLTO_ALERT_RULES", raising=False)
    result = CliRunner().invoke(app, ["alerts", "check"])
    assert result.exit_code != 0
    assert "ASCOLTO_ALERT_RULES" in str(result.exception or result.output)


# --- window counts -------------------------------------------------------------------------------------
class _Answer:
    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body


class FakeES:
    """Answers the key and composite aggregations from a list of (key values, window start s, negative)."""

    def __init__(self, posts: list[tuple[list[str], int, bool]]) -> None:
        self.posts = posts
        self.requests: list[dict[str, Any]] = []

    def search(self, **request: Any) -> _Answer:
        self.requests.append(request)
        aggs = request["aggs"]
        if "keys" in aggs:
            counts: dict[str, int] = {}
            for keys, _, _ in self.posts:
                for key in keys:
                    if not aggs["keys"]["terms"].get("include") or key in aggs["keys"]["terms"]["include"]:
                        counts[key] = counts.get(key, 0) + 1
            top = sorted(counts.items(), key=lambda kv: -kv[1])[: aggs["keys"]["terms"]["size"]]
            return _Answer(
                {
                    "aggregations": {
                        "keys": {"buckets": [{"key": k, "doc_count": n} for k, n in top]},
                        "how_many": {"value": len(counts)},
                    }
                }
            )
        composite = aggs["windows"]["composite"]
        keyed = len(composite["sources"]) == 2
        field = composite["sources"][0]["key"]["terms"]["field"] if keyed else None
        chosen = [f["terms"][field] for f in request["query"]["bool"]["filter"] if field in f.get("terms", {})]
        allowed = chosen[0] if chosen else None
        buckets: dict[tuple[str, int], list[int]] = {}
        for keys, at, negative in self.posts:
            if allowed is not None and not set(keys) & set(allowed):
                continue
            for key in keys if keyed else ["-"]:
                entry = buckets.setdefault((key, at * 1000), [0, 0])
                entry[0] += 1
                entry[1] += negative
        ordered = sorted(buckets.items())
        after = composite.get("after")
        if after is not None:
            ordered = [b for b in ordered if b[0] > (after.get("key", "-"), after["window"])]
        page = ordered[: composite["size"]]
        out = [
            {"key": {"key": k, "window": w} if keyed else {"window": w}, "doc_count": n, "negative": {"doc_count": neg}}
            for (k, w), (n, neg) in page
        ]
        answer: dict[str, Any] = {"buckets": out}
        if page:
            answer["after_key"] = out[-1]["key"]
        return _Answer({"aggregations": {"windows": answer}})


T0 = 1_767_261_600  # 2026-01-01T10:00:00Z, a multiple of 600


def at(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_window_counts_fill_every_window_with_zeros_and_page_through_the_composite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(elastic.alerts, "PAGE", 2)
    es = FakeES(
        [
            (["billing"], T0, True),
            (["billing", "outage"], T0, False),
            (["billing"], T0 + 1800, True),
            (["outage"], T0 + 600, True),
        ]
    )
    counts = window_counts(
        es,  # type: ignore[arg-type]
        Settings(),
        selection=PostSelection(lang=("it",)),
        key="topic",
        window_seconds=600,
        since=at(T0 + 17),  # aligned down to 10:00
        until=at(T0 + 2400 + 5),  # the window 10:40-10:50 is not over: left out
    )
    assert counts.series == {
        "billing": [(T0, 2, 1), (T0 + 600, 0, 0), (T0 + 1200, 0, 0), (T0 + 1800, 1, 1)],
        "outage": [(T0, 1, 0), (T0 + 600, 1, 1), (T0 + 1200, 0, 0), (T0 + 1800, 0, 0)],
    }
    assert not counts.capped
    # The rule's filters, the time range, and the date histogram by the window, aligned to the epoch.
    composite_requests = [r for r in es.requests if "windows" in r["aggs"]]
    assert len(composite_requests) > 1  # paged
    first = composite_requests[0]
    filters = first["query"]["bool"]["filter"]
    assert {"terms": {"lang": ["it"]}} in filters
    assert {"range": {"created_at": {"gte": T0 * 1000, "lt": (T0 + 2400) * 1000, "format": "epoch_millis"}}} in filters
    sources = first["aggs"]["windows"]["composite"]["sources"]
    assert sources[0] == {"key": {"terms": {"field": "topics"}}}
    assert sources[1]["window"]["date_histogram"] == {"field": "created_at", "fixed_interval": "600s"}
    assert first["aggs"]["windows"]["aggs"]["negative"] == {"filter": {"term": {"sentiment.label": "negative"}}}


def test_window_counts_keep_the_busiest_keys_and_say_how_many_there_were() -> None:
    posts = [([f"k{i}"], T0, False) for i in range(5) for _ in range(i + 1)]
    counts = window_counts(
        FakeES(posts),  # type: ignore[arg-type]
        Settings(),
        key="hashtag",
        window_seconds=600,
        since=at(T0),
        until=at(T0 + 600),
        max_keys=2,
    )
    assert sorted(counts.series) == ["k3", "k4"]
    assert counts.series["k4"] == [(T0, 5, 0)]
    assert counts.capped and counts.keys_total == 5


def test_window_counts_of_key_all_is_one_series_and_a_filter_on_the_key_narrows_the_keys() -> None:
    posts = [(["billing", "outage"], T0, True), (["outage"], T0 + 600, False)]
    whole = window_counts(
        FakeES(posts),  # type: ignore[arg-type]
        Settings(),
        key="all",
        window_seconds=600,
        since=at(T0),
        until=at(T0 + 1200),
    )
    assert whole.series == {"all": [(T0, 1, 1), (T0 + 600, 1, 0)]}
    es = FakeES(posts)
    narrowed = window_counts(
        es,  # type: ignore[arg-type]
        Settings(),
        selection=PostSelection(topic=("billing",)),
        key="topic",
        window_seconds=600,
        since=at(T0),
        until=at(T0 + 1200),
    )
    assert list(narrowed.series) == ["billing"]
    assert es.requests[0]["aggs"]["keys"]["terms"]["include"] == ["billing"]


def test_window_counts_refuse_too_many_windows() -> None:
    with pytest.raises(ValueError, match="shorter time range"):
        window_counts(
            FakeES([]),  # type: ignore[arg-type]
            Settings(),
            window_seconds=60,
            since=at(T0),
            until=at(T0 + 60 * 20_000),
        )


# --- the alerts index sink --------------------------------------------------------------------------------
class FakeAsyncES:
    """Bulk answers from a script: an exception to raise, or None to index everything (honouring versions)."""

    def __init__(self, script: list[BaseException | None]) -> None:
        self.script = script
        self.docs: dict[str, tuple[int, dict[str, Any]]] = {}
        self.bulks = 0
        self.cluster = self
        self.indices = self

    async def put_component_template(self, **_: Any) -> None:
        return None

    async def put_index_template(self, **_: Any) -> None:
        return None

    async def bulk(self, *, operations: bytes, filter_path: str) -> _Answer:
        self.bulks += 1
        step = self.script.pop(0) if self.script else None
        if step is not None:
            raise step
        lines = operations.split(b"\n")
        items = []
        for action_line, body in zip(lines[0::2], lines[1::2], strict=False):
            action = orjson.loads(action_line)["index"]
            version = action["version"]
            known = self.docs.get(action["_id"])
            if known is not None and version < known[0]:
                conflict = {"type": "version_conflict_engine_exception", "reason": "newer version"}
                items.append({"index": {"_id": action["_id"], "status": 409, "error": conflict}})
                continue
            self.docs[action["_id"]] = (version, orjson.loads(body))
            items.append({"index": {"_id": action["_id"], "status": 201}})
        return _Answer({"items": items})


def _message(value: bytes | None, offset: int) -> Message:
    return Message(b"k", value, "t.alerts", 0, offset)


def _sink(es: FakeAsyncES, letters: list[tuple[str, str]], waits: list[float]) -> AlertsSink:
    async def dead_letter(msg: Message, stage: str, reason: str) -> None:
        letters.append((stage, reason))

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return AlertsSink(es, Settings(), dead_letter, sleep=sleep, uniform=lambda low, high: high)  # type: ignore[arg-type]


def test_the_sink_keeps_the_resolution_and_dead_letters_what_is_not_an_alert() -> None:
    es = FakeAsyncES([])
    letters: list[tuple[str, str]] = []
    sink = _sink(es, letters, [])
    batch = [
        _message(orjson.dumps(firing()), 0),
        _message(b"not json", 1),
        _message(orjson.dumps(resolved()), 2),
        _message(orjson.dumps({**firing(), "severity": "urgent"}), 3),
    ]
    offsets = asyncio.run(sink.write(batch))
    assert offsets == {("t.alerts", 0): 4}
    assert [stage for stage, _ in letters] == ["alerts", "alerts"]
    assert "not JSON" in letters[0][1] and "severity" in letters[1][1]
    [(version, doc)] = es.docs.values()
    assert version == 2
    assert doc["status"] == "resolved" and doc["resolution"]["observed"] == 4 and doc["samples"]
    # The firing alert published again after its resolution leaves the resolved document as it is.
    assert asyncio.run(sink.write([_message(orjson.dumps(firing()), 4)])) == {("t.alerts", 0): 5}
    assert es.docs[firing()["id"]][1]["status"] == "resolved"


def test_the_sink_waits_for_elasticsearch_and_loses_nothing() -> None:
    down = TransportConnectionError("refused")
    es = FakeAsyncES([down, down, down])
    waits: list[float] = []
    sink = _sink(es, [], waits)
    offsets = asyncio.run(sink.write([_message(orjson.dumps(firing()), 7)]))
    assert offsets == {("t.alerts", 0): 8}
    assert es.bulks == 4 and len(waits) == 3
    assert waits == sorted(waits) and waits[0] < waits[-1]  # backing off
    assert firing()["id"] in es.docs


# --- test and errors ------------------------------------------------------------------------------------
def test_test_prints_one_line_per_subscriber_and_fails_when_one_did_not_take_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n"
        "  - name: billing\n"
        "    kind: negative_spike\n"
        "    subscribers:\n"
        "      - webhook: {url: 'https://ops.example.com/hook', secret_env: HOOK_SECRET}\n"
        "      - slack: {url_env: SLACK_URL}\n",
        encoding="utf-8",
    )
    sent: list[str] = []

    async def send_test(rule: Any, settings: Settings) -> list[Any]:
        sent.append(rule.name)
        return [
            SimpleNamespace(subscriber="webhook https://ops.example.com/hook", ok=True, error=None),
            SimpleNamespace(subscriber="slack (SLACK_URL)", ok=False, error="SLACK_URL is not set."),
        ]

    # The notifier's module, replaced: the command only needs its send_test.
    monkeypatch.setitem(sys.modules, "streams.alerting.delivery", SimpleNamespace(send_test=send_test))
    result = CliRunner().invoke(app, ["alerts", "test", "billing", "--rules", str(rules)])
    assert sent == ["billing"]
    assert result.exit_code == 1
    assert "✓ webhook https://ops.example.com/hook" in result.output
    assert "✗ slack (SLACK_URL): SLACK_URL is not set." in result.output
    assert "1 of 2 subscriber(s) did not take the test notification" in result.output


def test_list_says_in_one_sentence_that_elasticsearch_is_not_there() -> None:
    result = CliRunner().invoke(app, ["alerts", "list"])
    assert isinstance(result.exception, ElasticsearchUnavailable)
    assert "Cannot reach Elasticsearch" in str(result.exception) and "ascolto stack up" in str(result.exception)
