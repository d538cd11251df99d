import pytest

from ascolto.connectors.generator import Burst, GeneratorSource
from ascolto.schemas import validate
from ascolto.search import SearchRequest, parse_since


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
    body = SearchRequest("bolletta", lang=["it"], sentiment=["negative"], source=["x"], since="24h", limit=5).body()
    filters = body["query"]["bool"]["filter"]
    assert {"terms": {"lang": ["it"]}} in filters
    assert {"terms": {"sentiment.label": ["negative"]}} in filters
    assert {"range": {"created_at": {"gte": "now-24h"}}} in filters
    assert body["size"] == 5


def test_search_rejects_bad_input():
    with pytest.raises(ValueError, match="sentiment"):
        SearchRequest(sentiment=["angry"]).body()
    with pytest.raises(ValueError, match="duration"):
        parse_since("yesterday")
    assert parse_since("2026-01-01") == "2026-01-01"
