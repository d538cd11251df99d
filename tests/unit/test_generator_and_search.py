import pytest
from multidict import MultiDict

from connectors.generator import Burst, GeneratorSource
from elastic.filters import PostFilters, parse_time
from elastic.search import SearchRequest
from elastic.stats import StatsRequest
from schemas import validate


def test_generator_is_seeded_valid_and_bursts():
    posts = list(GeneratorSource(count=50, seed=7, burst=Burst(after=10, size=5, brand="Comune di Test")))
    again = list(GeneratorSource(count=50, seed=7, burst=Burst(after=10, size=5, brand="Comune di Test")))
    assert [p["text"] for p in posts] == [p["text"] for p in again]
    assert len(posts) == 55 and len({p["id"] for p in posts}) == 55
    for p in posts:
        validate("raw_post", p)
    burst = posts[10:15]
    assert all("Comune di Test" in p["text"] and p["id"].endswith(f"burst-{i}") for i, p in enumerate(burst))
    assert {p["lang_hint"] for p in posts} == {"it", "en"}


def test_search_body_filters():
    filters = PostFilters(lang=["it"], sentiment=["negative"], topic=["billing"], source=["x"], since="24h", until="1h")
    body = SearchRequest("bolletta", filters, size=5, page=3).body()
    clauses = body["query"]["bool"]["filter"]
    assert {"terms": {"lang": ["it"]}} in clauses
    assert {"terms": {"sentiment.label": ["negative"]}} in clauses
    assert {"terms": {"topics": ["billing"]}} in clauses
    assert {"range": {"created_at": {"gte": "now-24h", "lt": "now-1h"}}} in clauses
    assert body["query"]["bool"]["must"][0]["query_string"]["fields"] == ["text", "text.it", "text.en"]
    assert (body["size"], body["from"]) == (5, 10)


def test_search_params_from_http_query():
    params = MultiDict([("q", "treno"), ("lang", "it,en"), ("lang", "fr"), ("sort", "most_negative"), ("size", "50")])
    request = SearchRequest.from_params(params)
    assert request.filters.lang == ["it", "en", "fr"]
    assert request.body()["sort"][0] == {"sentiment.compound": "asc"}


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"sentiment": "angry"}, "sentiment must be one of"),
        ({"since": "yesterday"}, "since 'yesterday'"),
        ({"until": "soon"}, "until 'soon'"),
        ({"size": "many"}, "size must be a whole number"),
        ({"size": "0"}, "size must be between"),
        ({"page": "500", "size": "100"}, "within 10000"),
        ({"sort": "random"}, "sort must be one of"),
    ],
)
def test_search_rejects_bad_parameters(params, fragment):
    with pytest.raises(ValueError, match=fragment):
        SearchRequest.from_params(MultiDict(params))


def test_stats_request_intervals_and_validation():
    assert StatsRequest.from_params(MultiDict({"since": "1h"})).fixed_interval() == "1m"
    assert StatsRequest.from_params(MultiDict({})).fixed_interval() == "15m"
    assert StatsRequest.from_params(MultiDict({"since": "30d"})).fixed_interval() == "1d"
    body = StatsRequest.from_params(MultiDict({"since": "7d", "interval": "6h", "topic": "billing"})).body()
    assert body["aggs"]["over_time"]["date_histogram"]["fixed_interval"] == "6h"
    with pytest.raises(ValueError, match="interval must be"):
        StatsRequest.from_params(MultiDict({"interval": "weekly"}))
    with pytest.raises(ValueError, match="more than 2000 buckets"):
        StatsRequest.from_params(MultiDict({"since": "30d", "interval": "1m"}))
    assert parse_time("2026-01-01") == "2026-01-01"
