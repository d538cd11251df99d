"""The shipped Kibana objects against the templates, and the import request Kibana would receive.

No Kibana runs here: the import is checked against a local HTTP stub that records the request.
"""

import http.server
import threading
from typing import ClassVar

import orjson
import pytest

from ascolto.kibana import SAVED_OBJECTS, check_saved_objects, import_saved_objects, load_saved_objects
from core.errors import AscoltoError
from core.settings import Settings


def test_shipped_saved_objects_match_the_index_templates():
    assert check_saved_objects(Settings()) == []
    kinds = {(o["type"], o["id"]) for o in load_saved_objects()}
    assert ("dashboard", "ascolto-dashboard") in kinds
    assert {k for k, _ in kinds} == {"index-pattern", "visualization", "search", "dashboard"}


def test_checker_catches_unknown_fields_wrong_types_and_dangling_references(tmp_path):
    objects = load_saved_objects()
    for obj in objects:
        if obj["id"] == "ascolto-vis-language-split":
            obj["attributes"]["visState"] = obj["attributes"]["visState"].replace(
                '"field":"lang"', '"field":"language"'
            )
        if obj["id"] == "ascolto-vis-volume-by-topic":
            obj["attributes"]["visState"] = obj["attributes"]["visState"].replace('"field":"topics"', '"field":"text"')
        if obj["type"] == "dashboard":
            obj["references"].append({"name": "panel_x", "type": "visualization", "id": "ascolto-vis-missing"})
    broken = tmp_path / "broken.ndjson"
    broken.write_bytes(b"\n".join(orjson.dumps(o) for o in objects))
    problems = "\n".join(check_saved_objects(Settings(), broken))
    assert "'language', which ascolto-posts* does not map" in problems
    assert "'text' is text" in problems
    assert "missing visualization ascolto-vis-missing" in problems


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list] = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).requests.append((self.path, dict(self.headers), body))
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        answer = {"success": True, "successCount": 10} if self.status == 200 else {"message": "nope"}
        self.wfile.write(orjson.dumps(answer))

    def log_message(self, *args):
        pass


@pytest.fixture
def kibana_stub():
    _Recorder.requests = []
    _Recorder.status = 200
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_import_posts_the_ndjson_with_api_key(kibana_stub):
    result = import_saved_objects(kibana_stub, Settings(kibana_api_key="c2VjcmV0"), space="ops")
    assert result["successCount"] == 10
    [(path, headers, body)] = _Recorder.requests
    assert path == "/s/ops/api/saved_objects/_import?overwrite=true"
    assert headers["kbn-xsrf"] == "ascolto"
    assert headers["Authorization"] == "ApiKey c2VjcmV0"
    assert headers["Content-Type"].startswith("multipart/form-data")
    assert SAVED_OBJECTS.read_bytes() in body


def test_import_errors_are_one_sentence(kibana_stub):
    _Recorder.status = 401
    with pytest.raises(AscoltoError, match="Kibana refused the import"):
        import_saved_objects(kibana_stub, Settings(kibana_username="u", kibana_password="p"))
    assert _Recorder.requests[0][1]["Authorization"].startswith("Basic ")
    with pytest.raises(AscoltoError, match="Cannot reach Kibana"):
        import_saved_objects("http://127.0.0.1:1", Settings())
