"""An independent client (kcat, librdkafka) reads what our connector produced."""

from __future__ import annotations

import subprocess

import orjson

from connectors.generator import GeneratorSource
from schemas import validate


def test_kcat_reads_connector_output(pipeline, tmp_path, require_tool):
    kcat = require_tool("kcat", "kcat")
    posts = list(GeneratorSource(count=40, seed=5))
    path = tmp_path / "p.jsonl"
    path.write_bytes(b"".join(orjson.dumps(p) + b"\n" for p in posts))
    pipeline.cli("connect", "file", str(path))

    out = subprocess.run(
        [
            kcat,
            "-b",
            pipeline.settings.kafka_brokers,
            "-C",
            "-t",
            pipeline.topics.raw,
            "-o",
            "beginning",
            "-e",
            "-J",
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    records = [orjson.loads(line) for line in out.splitlines() if line.strip()]
    assert len(records) == len(posts)
    by_id = {p["id"]: p for p in posts}
    partitions = set()
    for rec in records:
        value = orjson.loads(rec["payload"])
        validate("raw_post", value)
        assert rec["key"] == value["id"]
        assert value == by_id[value["id"]]
        headers = dict(zip(rec["headers"][::2], rec["headers"][1::2], strict=True))
        assert headers == {"content-type": "application/json", "ascolto-schema": "raw_post/1"}
        partitions.add(rec["partition"])
    # Keyed by post id: the same post always lands on the same partition, posts spread over all.
    assert len(partitions) == pipeline.settings.topic_partitions
