"""The console's API against the real stack, through a real worker: counts equal Elasticsearch's,
the live feed delivers its backlog then new posts and resumes exactly, the health figures move."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import requests
from kafka import KafkaProducer

from ascolto.testing import LocalPipeline, make_post, wait_for
from core.kafka import kafka_client_config

pytestmark = pytest.mark.integration

TEXTS = [
    "I love this service, it is wonderful and fast",
    "Terrible outage again, the worst billing experience, I hate it",
    "The invoice arrived today",
    "Great support team, thank you so much",
    "Awful app, it crashes all the time, horrible",
    "Il servizio è ottimo, grazie mille",
    "Bolletta sbagliata, servizio pessimo, vergogna",
    "La fattura è arrivata oggi",
]


def base(pipeline: LocalPipeline) -> str:
    return f"http://127.0.0.1:{pipeline.settings.web_port}"


def get(pipeline: LocalPipeline, path: str, **params: Any) -> requests.Response:
    return requests.get(base(pipeline) + path, params=params, timeout=30)


class Feed:
    """An SSE client in a thread: its events as (id, data) in arrival order."""

    def __init__(self, pipeline: LocalPipeline, last_event_id: str | None = None, **params: Any) -> None:
        headers = {"Accept": "text/event-stream"}
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self.response = requests.get(
            base(pipeline) + "/api/feed", params=params, headers=headers, stream=True, timeout=30
        )
        assert self.response.status_code == 200, self.response.text
        assert self.response.headers["Content-Type"].startswith("text/event-stream")
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        ident, kind, data = "", "", ""
        try:
            for line in self.response.iter_lines(decode_unicode=True):
                if line.startswith("id: "):
                    ident = line[4:]
                elif line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == "" and data:
                    if kind == "post":
                        self.events.append((ident, orjson.loads(data)))
                    ident, kind, data = "", "", ""
        except Exception:
            return  # closed by the test

    def ids(self) -> list[str]:
        return [post["id"] for _, post in self.events]

    def wait(self, count: int, timeout: float = 60) -> list[str]:
        wait_for(lambda: len(self.events) >= count, timeout=timeout, what=f"{count} feed events")
        return self.ids()

    def close(self) -> None:
        self.response.close()


@pytest.fixture
def feeds() -> Iterator[list[Feed]]:
    opened: list[Feed] = []
    yield opened
    for feed in opened:
        feed.close()


def es_count(pipeline: LocalPipeline, *filters: dict[str, Any], since: str) -> int:
    return pipeline.count({"bool": {"filter": [{"range": {"created_at": {"gte": since}}}, *filters]}})


def test_overview_posts_alerts_and_health_match_elasticsearch(pipeline):
    posts = [make_post(text, native_id=f"c{i}") for i, text in enumerate(TEXTS)]
    pipeline.start_worker()
    pipeline.publish(posts)
    pipeline.wait_count(len(posts))

    overview = get(pipeline, "/api/overview", range="1h")
    assert overview.status_code == 200, overview.text
    body = overview.json()
    assert body["range"] == "1h" and body["interval"] == "1m"
    assert body["total"] == es_count(pipeline, since=body["since"]) == len(posts)
    assert sum(b["positive"] + b["neutral"] + b["negative"] for b in body["buckets"]) == body["total"]
    assert 60 <= len(body["buckets"]) <= 61  # every minute of the hour, zeros included
    negatives = es_count(pipeline, {"term": {"sentiment.label": "negative"}}, since=body["since"])
    assert negatives > 0 and sum(b["negative"] for b in body["buckets"]) == negatives
    assert {lang["key"]: lang["count"] for lang in body["languages"]} == {
        lang: es_count(pipeline, {"term": {"lang": lang}}, since=body["since"]) for lang in ("en", "it")
    }
    for topic in body["topics"]:
        assert topic["count"] == es_count(pipeline, {"term": {"topics": topic["key"]}}, since=body["since"])
        assert sum(b["count"] for b in topic["buckets"]) == topic["count"]

    narrowed = get(pipeline, "/api/overview", range="1h", sentiment="negative", lang="it").json()
    assert narrowed["total"] == es_count(
        pipeline, {"term": {"sentiment.label": "negative"}}, {"term": {"lang": "it"}}, since=body["since"]
    )
    assert narrowed["total"] < body["total"]
    searched = get(pipeline, "/api/overview", range="24h", q="servizio").json()
    assert searched["interval"] == "15m" and searched["total"] == 2

    assert get(pipeline, "/api/overview", range="2h").status_code == 400
    assert "unknown parameter" in get(pipeline, "/api/overview", colour="red").json()["error"]

    one = get(pipeline, f"/api/posts/{posts[1]['id']}")
    assert one.status_code == 200
    detail = one.json()
    assert detail["id"] == posts[1]["id"] and detail["text"] == TEXTS[1]
    assert detail["sentiment"]["label"] == "negative" and detail["sentiment"]["model"]
    assert "entities" in detail and "indexed_at" in detail
    missing = get(pipeline, "/api/posts/test:nope")
    assert missing.status_code == 404 and "no post" in missing.json()["error"]

    alerts = get(pipeline, "/api/alerts")
    assert alerts.status_code == 200 and alerts.json() == {"enabled": False, "active": [], "recent": []}

    health = get(pipeline, "/api/health").json()
    rates = {stage["stage"]: stage["posts_per_second"] for stage in health["stages"]}
    assert set(rates) == {"connectors", "enrich", "index"}
    assert all(rate is not None and rate > 0 for rate in rates.values()), rates
    assert health["elasticsearch"]["status"] in ("green", "yellow")
    assert health["ready"]["ready"] is True
    assert health["lag"] and all(row["lag"] >= 0 for row in health["lag"])
    assert health["dead_letters_last_hour"] == 0

    producer = KafkaProducer(**kafka_client_config(pipeline.settings))
    producer.send(pipeline.topics.raw, key=b"broken", value=b'{"id": "test:broken", "text": ')
    producer.flush()
    producer.close()
    pipeline.read_dead_letters(1)

    def dead_letters() -> bool:
        return get(pipeline, "/api/health").json()["dead_letters_last_hour"] == 1

    wait_for(dead_letters, timeout=30, what="the dead letter in /api/health")


def test_feed_sends_backlog_then_new_posts_resumes_exactly_and_filters(pipeline, feeds):
    first = [make_post(text, native_id=f"f{i}") for i, text in enumerate(TEXTS)]
    pipeline.start_worker()
    pipeline.publish(first)
    pipeline.wait_count(len(first))

    everything = Feed(pipeline)
    feeds.append(everything)
    backlog = everything.wait(len(first))
    assert sorted(backlog) == sorted(p["id"] for p in first)
    stamps = [post["indexed_at"] for _, post in everything.events]
    assert stamps == sorted(stamps)  # oldest first
    sample = everything.events[0][1]
    assert set(sample) >= {"id", "created_at", "indexed_at", "source", "handle", "text", "lang", "sentiment", "topics"}

    negative = Feed(pipeline, sentiment="negative")
    feeds.append(negative)
    wanted = {p["id"] for p in first if "hate" in p["text"] or "pessimo" in p["text"] or "horrible" in p["text"]}
    assert set(negative.wait(len(wanted))) >= wanted
    assert all(post["sentiment"]["label"] == "negative" for _, post in negative.events)
    assert len(negative.events) < len(first)

    fresh = make_post("Disgusting service, the worst outage ever, I am furious", native_id="fresh")
    pipeline.publish([fresh])
    assert everything.wait(len(first) + 1, timeout=60)[-1] == fresh["id"]
    wait_for(lambda: fresh["id"] in negative.ids(), timeout=60, what="the new negative post in the filtered feed")

    # Reconnect after the last event seen: only what came since, nothing twice.
    last_id = everything.events[-1][0]
    everything.close()
    later = [make_post(f"another post number {i}", native_id=f"later{i}") for i in range(3)]
    pipeline.publish(later)
    pipeline.wait_count(len(first) + 1 + len(later))
    resumed = Feed(pipeline, last_event_id=last_id)
    feeds.append(resumed)
    assert sorted(resumed.wait(len(later))) == sorted(p["id"] for p in later)
    # A marker published afterwards comes after any repeat or stale backlog would have.
    marker = make_post("one more post to close the check", native_id="marker")
    pipeline.publish([marker])
    assert resumed.wait(len(later) + 1)[-1] == marker["id"]
    assert sorted(resumed.ids()) == sorted(p["id"] for p in [*later, marker]), resumed.ids()

    bad = requests.get(base(pipeline) + "/api/feed", params={"sentiment": "angry"}, timeout=10)
    assert bad.status_code == 400 and "sentiment" in bad.json()["error"]


def test_console_page_and_its_files_work_with_the_token_beyond_loopback(tmp_path):
    token = "console-token-0123456789abcdef"
    with LocalPipeline(tmp_path, web_bind="0.0.0.0", api_token=token) as pipeline:
        pipeline.start_worker()
        web = base(pipeline)
        assert requests.get(f"{web}/console/", timeout=10).status_code == 401
        browser = requests.Session()
        page = browser.get(f"{web}/console/", params={"token": token}, timeout=10)
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "<html" in page.text.lower() and token not in page.text
        assert page.headers["Cache-Control"] == "no-cache"
        script = browser.get(f"{web}/console/static/console.js", timeout=10)  # the cookie carries the token now
        assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
        assert browser.get(f"{web}/console/static/../api.py", timeout=10).status_code == 404
        assert browser.get(f"{web}/console/static/%2E%2E/console.py", timeout=10).status_code == 404
        assert browser.get(f"{web}/api/overview", params={"range": "1h"}, timeout=10).json()["total"] == 0
        feed = browser.get(f"{web}/api/feed", stream=True, timeout=10)
        assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/event-stream")
        feed.close()
        moved = browser.get(f"{web}/console", allow_redirects=False, timeout=10)
        assert moved.status_code == 308 and moved.headers["Location"] == "/console/"
