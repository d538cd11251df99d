import base64

import orjson
import pytest

from schemas import InvalidMessage, dead_letter, decode_raw_post, load_schema, validate


def raw(**over):
    post = {
        "id": "file:1",
        "source": "file",
        "native_id": "1",
        "text": "the bill is wrong",
        "created_at": "2026-01-02T03:04:05Z",
        "author": {"id": "u1", "handle": "anna"},
        "schema_version": 1,
    }
    post.update(over)
    return post


def test_valid_raw_post_decodes():
    assert decode_raw_post(orjson.dumps(raw()))["text"] == "the bill is wrong"


@pytest.mark.parametrize(
    ("value", "stage", "fragment"),
    [
        (b"{not json", "decode", "not JSON"),
        (b"\xff\xfe\x00", "decode", "not valid UTF-8"),
        (b"[1, 2]", "decode", "not an object"),
        (None, "decode", "no value"),
        (orjson.dumps({k: v for k, v in raw().items() if k != "text"}), "validate", "text"),
        (orjson.dumps(raw(text=42)), "validate", "text must be string"),
        (orjson.dumps(raw(created_at="yesterday")), "validate", "created_at"),
        (orjson.dumps(raw(schema_version=2)), "validate", "schema_version"),
        (orjson.dumps(raw(text="x" * 100_001)), "validate", "100000"),
        (orjson.dumps(raw(surprise=True)), "validate", "surprise"),
    ],
)
def test_invalid_raw_posts_say_why(value, stage, fragment):
    with pytest.raises(InvalidMessage) as info:
        decode_raw_post(value)
    assert info.value.stage == stage
    assert fragment in info.value.reason


def test_enriched_schema_repeats_raw_properties_exactly():
    raw_props = load_schema("raw_post")["properties"]
    enriched_props = load_schema("enriched_post")["properties"]
    for name, spec in raw_props.items():
        spec = {k: v for k, v in spec.items() if k != "description"}
        assert {k: v for k, v in enriched_props[name].items() if k != "description"} == spec, name
    assert set(load_schema("raw_post")["required"]) <= set(load_schema("enriched_post")["required"])


def test_dead_letter_keeps_original_bytes():
    text_letter = dead_letter("decode", "why", b'{"a": 1}', topic="t", partition=0, offset=7)
    validate("dead_letter", text_letter)
    assert text_letter["original_encoding"] == "text" and text_letter["original"] == '{"a": 1}'
    binary = dead_letter("decode", "why", b"\xff\x00")
    validate("dead_letter", binary)
    assert binary["original_encoding"] == "base64"
    assert base64.b64decode(binary["original"]) == b"\xff\x00"


def test_dead_letter_position_fields_are_optional_for_readers():
    letter = dead_letter("connector:file", "why", b"x")
    validate("dead_letter", {k: v for k, v in letter.items() if k not in ("topic", "partition", "offset")})
    with pytest.raises(InvalidMessage, match="original_encoding"):
        validate("dead_letter", {**letter, "original_encoding": "hex"})


def enriched(**over):
    post = {
        **raw(),
        "lang": "en",
        "sentiment": {"compound": -0.5, "pos": 0.0, "neu": 0.5, "neg": 0.5, "label": "negative", "model": "vader"},
        "topics": ["billing"],
        "entities": {"hashtags": [], "mentions": [], "urls": [], "emoji": [], "watch_terms": []},
        "enriched_at": "2026-01-02T03:04:06Z",
    }
    post.update(over)
    return post


@pytest.mark.parametrize(
    ("name", "doc", "fragment"),
    [
        ("raw_post", raw(author={"id": "u1", "handle": "anna", "age": 3}), "age"),
        ("raw_post", raw(metrics={"likes": 1, "views": 2}), "views"),
        ("raw_post", raw(metrics={"likes": -1}), "likes"),
        ("raw_post", raw(lang_hint="english"), "lang_hint"),
        ("raw_post", raw(id="no-colon"), "id"),
        ("enriched_post", enriched(sentiment={**enriched()["sentiment"], "extra": 1}), "extra"),
        ("enriched_post", enriched(entities={**enriched()["entities"], "places": []}), "places"),
        ("enriched_post", enriched(topics=["a", "a"]), "topics"),
        ("enriched_post", enriched(enriched_at="soon"), "enriched_at"),
        ("enriched_post", enriched(lang="italian"), "lang"),
    ],
)
def test_nested_objects_are_closed_and_constrained(name, doc, fragment):
    with pytest.raises(InvalidMessage) as info:
        validate(name, doc)
    assert fragment in info.value.reason


def test_enriched_posts_admit_plugin_fields_and_null_optionals():
    validate("enriched_post", enriched(asks_question=True, url=None, metrics=None, raw=None, repost_key=None))
    validate("raw_post", raw(author={"id": "u1", "handle": "anna", "name": None, "followers": None}))
