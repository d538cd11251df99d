import os
import random
import time
from typing import cast

import pytest
import yaml

from ascolto.testing import make_post, run_enricher
from core.settings import Settings
from streams.enrichers.duplicates import repost_key
from streams.enrichers.entities import EntityExtractor
from streams.enrichers.taxonomy import TaxonomyError, default_taxonomy_path, load_taxonomy
from streams.enrichers.topic_tags import Topics

TAXONOMY = """
version: 1
topics:
  billing:
    label: {it: Bollette, en: Billing}
    any: ["#bollette"]
    it: ["bollett*", "conguaglio", "addebito non autorizzato"]
    en: ["bill", "refund*"]
  transport:
    label: {it: Trasporti, en: Transport}
    it: ["treno", "treni", "città"]
"""


@pytest.fixture
def taxonomy_file(tmp_path):
    path = tmp_path / "taxonomy.yaml"
    path.write_text(TAXONOMY, encoding="utf-8")
    return path


def test_taxonomy_matching_rules(taxonomy_file):
    tax = load_taxonomy(taxonomy_file)
    assert tax.topics_of("BOLLETTE pazzesche", "it") == ["billing"]  # stem, case
    assert tax.topics_of("Un Addebito non autorizzato!", "it") == ["billing"]  # phrase across punctuation
    assert tax.topics_of("Refunds never arrive", "en") == ["billing"]
    assert tax.topics_of("the bill", "it") == []  # English terms only for English posts...
    assert tax.topics_of("the bill", "und") == ["billing"]  # ...or unknown language
    assert tax.topics_of("#Bollette", "en") == ["billing"]  # `any` terms for every language
    assert tax.topics_of("billing", "en") == []  # whole words unless the term is a stem
    assert tax.topics_of("in citta non passa un treno", "it") == ["transport"]  # accents folded
    assert tax.topics_of("Trentino", "it") == []


def test_default_taxonomy_covers_the_required_topics():
    tax = load_taxonomy(default_taxonomy_path())
    required = {"billing", "outage", "waiting_times", "staff_courtesy", "digital_services", "pensions_benefits",
                "health_services", "transport", "fraud_scam", "praise"}  # fmt: skip
    assert required <= set(tax.topics)
    assert "billing" in tax.topics_of("La bolletta della luce è sbagliata", "it")
    assert "digital_services" in tax.topics_of("Non riesco ad accedere con SPID", "it")
    assert "transport" in tax.topics_of("My train was cancelled again", "en")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [("topics: []", "non-empty"), ("topics: {Bad-Id: {it: [x]}}", "lower_snake_case"),
     ("topics: {a: {it: ['bo*tta']}}", "bad term"), ("topics: {a: {label: {it: A}}}", "no terms"),
     ("topics: {a: {it: '!!!'}}", "must be a list")],
)  # fmt: skip
def test_bad_taxonomy_is_a_clear_error(tmp_path, body, fragment):
    path = tmp_path / "t.yaml"
    path.write_text(body)
    with pytest.raises(TaxonomyError, match=fragment):
        load_taxonomy(path)


def test_topics_are_the_terms_payloads_that_apply_to_the_language(tmp_path):
    # 70 topics (more than a machine word of bits), terms shared between topics and scopes, scopes
    # beyond it/en (one named "und"): topics_of agrees with the rule read off the matcher's payloads.
    rng = random.Random(3)
    words = ["bolletta", "treno", "ritardo", "sportello", "rimborso", "bus", "app", "coda", "spid"]
    scopes = ["any", "it", "en", "fr", "und"]
    topics = {
        f"t{n:02d}": {scope: [*rng.sample(words, 2), f"{rng.choice(words)}*"] for scope in rng.sample(scopes, 2)}
        for n in range(70)
    }
    path = tmp_path / "many.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "topics": topics}), encoding="utf-8")
    tax = load_taxonomy(path)
    for _ in range(300):
        text = " ".join(rng.choice([*words, "rimborsi", "nulla", "#treno"]) for _ in range(rng.randint(0, 6)))
        for lang in ["it", "en", "fr", "und", "es", "any"]:
            found = cast(set[tuple[str, str]], tax.matcher.find(text))
            expected = sorted({t for t, scope in found if scope in ("any", lang) or lang == "und"})
            assert tax.topics_of(text, lang) == expected, (text, lang)


def test_taxonomy_reloads_while_running_and_survives_a_broken_edit(taxonomy_file):
    enricher = Topics(Settings(taxonomy=taxonomy_file, reload_seconds=0.01))
    post = make_post("Sciopero dei bus oggi", lang_hint="it")
    post["lang"] = "it"
    assert enricher(post)["topics"] == []
    taxonomy_file.write_text(TAXONOMY + "  strikes:\n    it: [sciopero]\n", encoding="utf-8")
    os.utime(taxonomy_file, (time.time() + 5, time.time() + 5))
    time.sleep(0.02)
    assert enricher(post)["topics"] == ["strikes"]
    taxonomy_file.write_text("topics: [broken", encoding="utf-8")
    os.utime(taxonomy_file, (time.time() + 10, time.time() + 10))
    time.sleep(0.02)
    assert enricher(post)["topics"] == ["strikes"]  # the last good taxonomy stays


def test_entities_with_emoji_and_watch_terms(tmp_path):
    watch = tmp_path / "watch.yaml"
    watch.write_text(
        "watch_terms:\n  INPS: ['@inps_it', 'istituto nazionale previdenza sociale']\n  App IO: ['app io', 'io app']\n",
        encoding="utf-8",
    )
    enricher = EntityExtractor(Settings(watch_terms=watch))
    text = "@INPS_it sito giù 😡😡 e l'App IO non va #Disservizio https://inps.it/x?y=1."
    got = enricher(make_post(text))["entities"]
    assert got["mentions"] == ["inps_it"]
    assert got["hashtags"] == ["disservizio"]
    assert got["urls"] == ["https://inps.it/x?y=1"]
    assert got["emoji"] == ["😡"]
    assert got["watch_terms"] == ["App IO", "INPS"]
    plain = EntityExtractor(Settings())(make_post("plain ascii text"))["entities"]
    assert plain == {"hashtags": [], "mentions": [], "urls": [], "emoji": [], "watch_terms": []}


def test_reposts_share_a_repost_key_whatever_the_order():
    first = make_post("Treno soppresso ANCORA una volta! https://t.co/a", native_id="1")
    repost = make_post("RT @luca: treno soppresso ancora una volta!!", native_id="2")
    late = make_post("treno soppresso ancora una volta", native_id="3", created_at="2027-06-01T11:00:00Z")
    other = make_post("treno in orario, una volta tanto", native_id="4")

    def keys_of(*posts):
        return {p["native_id"]: run_enricher("duplicates", p, before=())["repost_key"] for p in posts}

    keys = keys_of(first, repost, late, other)
    assert keys["1"] == keys["2"] == keys["3"] is not None
    assert keys["4"] != keys["1"]
    # A function of the text alone: another worker, a replay or the reverse order give the same keys.
    assert keys_of(other, late, repost, first) == keys
    assert repost_key("grazie!") is None  # too short to call a repost


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("RT @mario: Il #treno delle 8 è in ritardo https://t.co/x", "22ca23e57e49ddd6a32d5ca3"),
        ("Perché la CITTÀ non risponde?? #Comune #comune", "9734d2afd0578fd086eb5ef8"),
        ("  rt: The 07:42 is cancelled again @Southern", "47fa3d402bf1b2d3fbbee3ed"),
        ("Grazie mille @inps_it per la risposta, tutto risolto 👍", "e4601b3d90e72643949c232d"),
    ],
)
def test_repost_keys_stay_those_already_in_the_index(text, key):
    # Keys are stored with every post: a faster normalisation must give the same digests,
    # or a repost of an indexed post would no longer group with it.
    assert repost_key(text) == key


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("ok 👍🏽 grazie 👍", ["👍🏽", "👍"]),  # a skin tone is part of its emoji
        ("famiglia 👨\u200d👩\u200d👧 al completo", ["👨\u200d👩\u200d👧"]),  # one ZWJ sequence
        ("Forza 🇮🇹🇮🇹!", ["🇮🇹"]),
        ("Binario 1️⃣, 2024 ©", ["1️⃣", "©"]),  # keycaps start with an ASCII digit
        ("Rosso 🏻\u200d🦰 a metà", ["🏻", "🦰"]),  # a component with nothing before it
    ],
)
def test_emoji_are_whole_sequences_as_the_emoji_library_reads_them(text, found):
    import emoji

    got = EntityExtractor(Settings())(make_post(text))["entities"]["emoji"]
    assert got == found
    assert got == list(dict.fromkeys(e["emoji"] for e in emoji.emoji_list(text)))
