import re
import uuid

from ascolto.stack import cluster_id
from ascolto.stack.cluster_id import random_cluster_id

# A uuid whose URL-safe base64 starts with '-' (0xF8 → '-' in the first sextet), then a plain one.
DASHED = uuid.UUID(bytes=bytes([0xF8]) + bytes(15))
PLAIN = uuid.UUID("12345678-1234-4234-8234-123456789abc")


def test_an_id_starting_with_a_dash_is_never_passed_to_kafka(monkeypatch):
    given = iter([uuid.UUID(bytes=bytes(16)), DASHED, PLAIN])
    monkeypatch.setattr(cluster_id.uuid, "uuid4", lambda: next(given))
    assert random_cluster_id() == "EjRWeBI0QjSCNBI0VniavA"


def test_ids_look_like_kafkas():
    ids = {random_cluster_id() for _ in range(5000)}
    assert len(ids) == 5000
    assert all(re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_-]{21}", i) for i in ids)
