"""The demo's webhook receiver: genuine signed alerts pass once, anything else is refused; its secret file."""

import stat
import urllib.error
import urllib.request

import orjson
import pytest

from ascolto.demo_receiver import DemoReceiver, demo_secret
from core.errors import AscoltoError
from streams.alerting.signing import DELIVERY_ID_HEADER, SIGNATURE_HEADER, signed_headers

ALERT = {"id": "a1", "status": "firing", "summary": "negative posts about outage: 97 in 1 min"}


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def receiver():
    with DemoReceiver("s3cret", port=0) as receiver:
        yield receiver


def test_a_signed_alert_is_passed_on_once_even_when_retried(receiver):
    body = orjson.dumps(ALERT)
    headers = {**signed_headers(b"s3cret", body), DELIVERY_ID_HEADER: "d1"}
    assert _post(receiver.url, body, headers) == 200
    assert _post(receiver.url, body, headers) == 200  # the notifier's retry of the same delivery
    assert receiver.alerts.get(timeout=1) == ALERT
    assert receiver.alerts.empty()


def test_a_digest_hands_on_each_of_its_alerts(receiver):
    body = orjson.dumps({"digest": [ALERT, {**ALERT, "id": "a2"}]})
    assert _post(receiver.url, body, {**signed_headers(b"s3cret", body), DELIVERY_ID_HEADER: "d2"}) == 200
    assert [receiver.alerts.get(timeout=1)["id"] for _ in range(2)] == ["a1", "a2"]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # not signed
        signed_headers(b"another secret", orjson.dumps(ALERT)),  # signed with the wrong key
        signed_headers(b"s3cret", orjson.dumps({**ALERT, "id": "forged"})),  # signed for another body
        signed_headers(b"s3cret", orjson.dumps(ALERT), now=1_000_000),  # an old request replayed
    ],
)
def test_a_request_not_signed_with_the_secret_is_refused(receiver, headers):
    assert _post(receiver.url, orjson.dumps(ALERT), headers) == 401
    assert receiver.alerts.empty() and receiver.rejected == 1


def test_header_names_are_case_insensitive(receiver):
    body = orjson.dumps(ALERT)
    headers = {name.lower(): value for name, value in signed_headers(b"s3cret", body).items()}
    assert SIGNATURE_HEADER.lower() in headers
    assert _post(receiver.url, body, headers) == 200
    assert receiver.alerts.get(timeout=1)["id"] == "a1"


def test_other_paths_are_not_found(receiver):
    body = orjson.dumps(ALERT)
    assert _post(receiver.url.replace("/alerts", "/other"), body, signed_headers(b"s3cret", body)) == 404


def test_a_taken_port_is_one_clear_error(receiver):
    with pytest.raises(AscoltoError, match=f"cannot listen on 127.0.0.1:{receiver.port}"):
        DemoReceiver("x", port=receiver.port).start()


def test_the_secret_is_made_once_and_readable_by_its_owner_only(tmp_path):
    first = demo_secret(tmp_path)
    assert len(first) == 64
    path = tmp_path / "demo" / "webhook-secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo_secret(tmp_path) == first
    path.chmod(0o644)
    assert demo_secret(tmp_path) == first and stat.S_IMODE(path.stat().st_mode) == 0o600
