"""The search API's bounds on the real stack: costly queries refused with a 400 naming the limit, the
bounded language still finding what people look for, and /api/stats answering whatever dates the
documents already in the index carry (a post dated in the year 9999 once broke it for everyone)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from ascolto.testing import LocalPipeline, bootstrap_posts_index, free_port

NOW = datetime.now(UTC)
POSTS = {
    "it-1": ("Le bollette della luce sono arrivate doppie", NOW - timedelta(minutes=5)),
    "it-2": ("Ennesima bolletta sbagliata, nessuno risponde", NOW - timedelta(minutes=20)),
    "it-3": ("Il treno regionale è stato soppresso", NOW - timedelta(hours=2)),
    "far-future": ("Un post dal futuro lontano", datetime(9999, 1, 1, tzinfo=UTC)),
    "far-past": ("Un post dal passato remoto", datetime(1, 1, 1, tzinfo=UTC)),
}


def get(port: int, path: str, **params: str) -> tuple[int, dict, dict]:
    url = f"http://127.0.0.1:{port}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, orjson.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read()), dict(exc.headers)


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A worker with its HTTP API over an index that already holds the posts above, far dates included
    (written straight into Elasticsearch, as an older version of ascolto would have indexed them)."""
    port = free_port()
    with LocalPipeline(tmp_path_factory.mktemp("bounds"), web_port=str(port)) as p:
        bootstrap_posts_index(p.settings)
        for key, (text, created) in POSTS.items():
            doc = {"id": f"test:{key}", "source": "test", "native_id": key, "text": text, "lang": "it",
                   "created_at": created.isoformat().replace("+00:00", "Z"),
                   "sentiment": {"label": "negative", "compound": -0.5}, "topics": ["billing"]}  # fmt: skip
            p.es.index(index=p.settings.es_index, id=doc["id"], document=doc)
        p.es.indices.refresh(index=p.settings.es_index)
        p.start_worker()
        yield p, port


def found(body: dict) -> set[str]:
    return {post["native_id"] for post in body["posts"]}


def test_stats_answer_whatever_dates_the_index_holds(api):
    _, port = api
    status, stats, _ = get(port, "/api/stats")
    assert status == 200, stats
    assert stats["total"] == 3  # the last 24 hours, up to now: not the year 9999
    assert sum(bucket["count"] for bucket in stats["sentiment_over_time"]) == 3

    status, stats, _ = get(port, "/api/stats", since="1970-01-01")
    assert status == 200, stats
    assert stats["total"] == 3 and len(stats["sentiment_over_time"]) <= 400

    status, stats, _ = get(port, "/api/stats", since="0001-01-01", until="9999-12-31T23:59:59Z")
    assert status == 200, stats
    assert stats["total"] == 5 and len(stats["sentiment_over_time"]) <= 400  # asked for: included, still small

    status, body, _ = get(port, "/api/stats", since="1970-01-01", interval="1h")
    assert status == 400 and "buckets; choose a larger one" in body["error"]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("/bol.*/", "regular expressions like /bol.*/ are not allowed"),
        ("*ette", "wildcards need at least 3 letters before them"),
        ("bolletta~9", "fuzziness 9 is above the maximum of 2"),
        (" ".join(["bolletta"] * 40), "q has 40 terms, more than the 32 allowed"),
        ("text:[a TO z]", "ranges are allowed in q only on"),
    ],
)
def test_costly_queries_get_400_naming_the_limit(api, query, fragment):
    _, port = api
    status, body, _ = get(port, "/api/search", q=query)
    assert status == 400, body
    assert fragment in body["error"]


def test_the_bounded_language_still_finds_posts(api):
    p, port = api
    for query, expected in [
        ("bollett*", {"it-1", "it-2"}),
        ("bolleta~1", {"it-1", "it-2"}),  # one edit from bolletta, and from the stem bollett
        ('"treno regionale"', {"it-3"}),
        ("bolletta OR treno", {"it-1", "it-2", "it-3"}),
        ("author.followers:>=0 OR bollette", {"it-1", "it-2"}),
    ]:
        status, body, _ = get(port, "/api/search", q=query, since="1d")
        assert status == 200, (query, body)
        assert found(body) == expected, query
    cli = p.cli("search", "/bol.*/", check=False)
    assert cli.returncode != 0 and "regular expressions like /bol.*/ are not allowed" in cli.stderr
    assert "Traceback" not in cli.stderr
    lines = p.cli("search", "bollett*", "--since", "1d", "--json").stdout.splitlines()
    assert {orjson.loads(line)["native_id"] for line in lines} == {"it-1", "it-2"}
