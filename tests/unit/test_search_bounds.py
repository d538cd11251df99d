"""What one search or stats request may cost: the query language's limits, the stats window, the
time limit, the in-flight limit of the HTTP API, and one clear answer for each Elasticsearch error."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, ConnectionTimeout, HttpHeaders, NodeConfig
from elasticsearch import ApiError
from multidict import MultiDict

from core.settings import Settings
from elastic.bounded import GRACE_SECONDS, describe_api_error
from elastic.filters import PostFilters
from elastic.query_limits import MAX_EXPANDING_TERMS, QueryRejected, check_query
from elastic.search import SearchRequest
from elastic.stats import MAX_AUTO_BUCKETS, StatsRequest
from web.api import SearchApi


@pytest.mark.parametrize(
    "query",
    [
        "bolletta OR bill",
        'text:"no service" AND treno',
        "bollett*",
        "bolleta~",
        "bolleta~2",
        '"treno soppresso"~3',
        "+ritardo -rimborso",
        "created_at:[2026-01-01 TO now] sentiment.compound:[-1 TO -0.5] author.followers:>=1000",
        "author.handle:comune*",
        "*",
        "bol\\*",  # an escaped star is a character, not a wildcard
        "(" * 300 + "treno" + ")" * 300,  # deeper than a recursive walk could go
    ],
)
def test_ordinary_queries_pass(query):
    check_query(query, max_terms=32)


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("/bol.*/", "regular expressions"),
        ("text:/.*etta/", "regular expressions"),
        ("*etta", "at least 3 letters"),
        ("?olletta", "at least 3 letters"),
        ("bo*", "at least 3 letters"),
        ("bolletta~5", "fuzziness 5 is above the maximum of 2"),
        ("abc* def* ghi~ jkl~", f"more than the {MAX_EXPANDING_TERMS} allowed"),
        (" ".join(f"w{i}" for i in range(33)), "q has 33 terms, more than the 32 allowed"),
        ('"' + " ".join(f"w{i}" for i in range(40)) + '"', "q has 40 terms"),
        ("text:[a TO z]", "ranges are allowed in q only on"),
        ("bolletta AND text:>m", "ranges are allowed in q only on"),
        ("te*:bolletta", "field names with wildcards"),
        ("text:(unclosed", "q is not a valid query"),
        ("x" * 1001, "more than the 1000 allowed"),
    ],
)
def test_costly_or_broken_queries_are_refused_naming_the_limit(query, fragment):
    with pytest.raises(QueryRejected, match=fragment.replace("[", r"\[").replace("*", r"\*")):
        check_query(query, max_terms=32)


def test_the_search_body_carries_elasticsearchs_own_bounds():
    clause = SearchRequest("bolleta~ OR treno").body()["query"]["bool"]["must"][0]["query_string"]
    assert clause["allow_leading_wildcard"] is False
    assert clause["fuzzy_max_expansions"] <= 50 and clause["fuzzy_prefix_length"] >= 1
    with pytest.raises(QueryRejected, match="q has 3 terms, more than the 2 allowed"):
        SearchRequest.from_params(MultiDict({"q": "a b c"}), max_terms=2)


STEP = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("since", "until", "span"),
    [
        (None, None, timedelta(hours=24)),
        ("1970-01-01", None, NOW - datetime(1970, 1, 1, tzinfo=UTC)),
        ("0001-01-01", "9999-12-31T23:59:59Z", datetime(9999, 12, 31, tzinfo=UTC) - datetime(1, 1, 1, tzinfo=UTC)),
        ("5000w", None, timedelta(weeks=5000)),
        ("2026-01-01T00:00:00+01:00", "2026-01-02", timedelta(hours=25)),
    ],
)
def test_stats_windows_are_closed_and_their_histograms_small(since, until, span):
    request = StatsRequest(PostFilters(since=since, until=until))
    body = request.body()
    [window] = [c["range"]["created_at"] for c in body["query"]["bool"]["filter"] if "range" in c]
    assert window["lt"] == (until or "now")  # closed: a post dated in 9999 is outside "until now"
    interval = body["aggs"]["over_time"]["date_histogram"]["fixed_interval"]
    assert span / (int(interval[:-1]) * STEP[interval[-1]]) <= MAX_AUTO_BUCKETS


def test_an_explicit_interval_is_checked_against_iso_windows_too():
    with pytest.raises(ValueError, match="more than 2000 buckets"):
        StatsRequest.from_params(MultiDict({"since": "1970-01-01", "interval": "1d"}))
    with pytest.raises(ValueError, match="beyond the calendar"):
        StatsRequest.from_params(MultiDict({"since": "999999999999w"}))


def api_error(status: int, body: Any) -> ApiError:
    meta = ApiResponseMeta(status, "1.1", HttpHeaders(), 0.0, NodeConfig("http", "localhost", 9200))
    return ApiError("error", meta, body)


TOO_MANY_BUCKETS = {  # what Elasticsearch 8.19 answered for a histogram reaching the year 9999
    "error": {
        "root_cause": [],
        "type": "search_phase_execution_exception",
        "reason": "",
        "caused_by": {"type": "too_many_buckets_exception", "reason": "Trying to create too many buckets."},
    },
    "status": 400,
}


@pytest.mark.parametrize(
    ("status", "body", "answer", "fragment"),
    [
        (400, TOO_MANY_BUCKETS, 400, "choose a larger interval"),
        (400, {"error": {"root_cause": [{"type": "x", "reason": "failed to parse date"}], "type": "y"}}, 400,
         "rejected the query: failed to parse date"),
        (429, {"error": {"type": "es_rejected_execution_exception", "reason": "queue full"}}, 503, "too busy"),
        (403, {"error": {"type": "security_exception", "reason": "action unauthorized"}}, 502, "read access"),
        (500, {"error": {"type": "search_phase_execution_exception", "reason": "",
                         "caused_by": {"type": "illegal_state_exception", "reason": "boom"}}}, 503, "boom"),
    ],
)  # fmt: skip
def test_elasticsearch_errors_become_one_sentence(status, body, answer, fragment):
    code, sentence = describe_api_error(api_error(status, body))
    assert code == answer and fragment in sentence
    assert "search_phase_execution_exception" not in sentence


class FakeElasticsearch:
    """Answers searches when told to; records what it was asked."""

    def __init__(self, outcome: Any = None) -> None:
        self.release = asyncio.Event()
        self.outcome = outcome
        self.calls: list[dict[str, Any]] = []
        self.request_timeout: float | None = None
        self.running = 0

    def options(self, *, request_timeout: float) -> FakeElasticsearch:
        self.request_timeout = request_timeout
        return self

    async def search(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        self.running += 1
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        hits = {"total": {"value": 0}, "hits": []}
        return SimpleNamespace(body={"timed_out": self.outcome == "timed out", "hits": hits})


def make_api(es: FakeElasticsearch, **settings: Any) -> SearchApi:
    return SearchApi(es, Settings(**settings))  # type: ignore[arg-type]


def test_searches_beyond_the_in_flight_limit_are_turned_away_at_once():
    async def scenario() -> None:
        es = FakeElasticsearch()
        api = make_api(es, api_max_concurrent_searches=2)
        first = [asyncio.create_task(api.search({"q": "treno"})) for _ in range(2)]
        while es.running < 2:
            await asyncio.sleep(0)
        busy = await asyncio.wait_for(api.search({"q": "treno"}), timeout=1)  # no waiting for a slot
        assert busy.status == 503 and busy.headers["Retry-After"] == "1"
        assert "already running 2 searches" in busy.body["error"]
        stats_busy = await asyncio.wait_for(api.stats({}), timeout=1)  # stats share the limit
        assert stats_busy.status == 503
        es.release.set()
        assert [(await task).status for task in first] == [200, 200]
        assert api.in_flight == 0 and (await api.search({"q": "treno"})).status == 200
        assert len(es.calls) == 3

    asyncio.run(scenario())


def test_every_search_has_a_time_limit_on_both_sides():
    async def scenario() -> None:
        es = FakeElasticsearch()
        es.release.set()
        api = make_api(es, api_search_timeout_seconds=3)
        assert (await api.search({"q": "treno"})).status == 200
        assert (await api.stats({"since": "7d"})).status == 200
        assert [call["timeout"] for call in es.calls] == ["3000ms", "3000ms"]  # shards stop collecting
        assert es.request_timeout == 3 + GRACE_SECONDS  # the client hangs up, Elasticsearch cancels

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("outcome", "status", "fragment"),
    [
        ("timed out", 504, "did not finish the search within 3 s"),
        (ConnectionTimeout("read timed out"), 504, "did not finish the search within 3 s"),
        (api_error(400, TOO_MANY_BUCKETS), 400, "choose a larger interval"),
        (api_error(429, {"error": {"type": "x", "reason": "queue full"}}), 503, "too busy"),
        (RuntimeError("a bug"), 500, "its log has the details"),
    ],
)
def test_every_failure_is_a_json_sentence(outcome, status, fragment):
    async def scenario() -> None:
        es = FakeElasticsearch(outcome)
        es.release.set()
        api = make_api(es, api_search_timeout_seconds=3)
        for answer in (await api.search({"q": "treno"}), await api.stats({})):
            assert answer.status == status and fragment in answer.body["error"]
            assert ("Retry-After" in answer.headers) == (status == 503)
        assert api.in_flight == 0

    asyncio.run(scenario())


def test_a_refused_query_never_reaches_elasticsearch():
    async def scenario() -> None:
        es = FakeElasticsearch()
        es.release.set()
        answer = await make_api(es).search({"q": "*etta"})
        assert answer.status == 400 and "wildcards need at least 3 letters" in answer.body["error"]
        assert es.calls == []

    asyncio.run(scenario())
