"""The fake Twilio server, exercised through the real twilio SDK."""

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import requests
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from tests.fake_twilio import FakeTwilio, make_client, num_segments

SENDER = "+15005550006"
RECIPIENT = "+8613800138001"
SID = re.compile(r"^SM[0-9a-f]{32}$")


@pytest.fixture
def fake():
    with FakeTwilio() as server:
        yield server


@pytest.fixture
def client(fake):
    return make_client(fake, timeout=0.5)


class _Capture(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        form = {key: values[0] for key, values in parse_qs(body).items()}
        self.server.seen.append((self.path, dict(self.headers), form))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format, *args):
        """Keep test output clean."""


@pytest.fixture
def receiver():
    """A local webhook endpoint that records (path, headers, form) of each POST."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    server.seen = []
    server.url = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def send(client, to=RECIPIENT, **kwargs):
    kwargs.setdefault("from_", SENDER)
    kwargs.setdefault("body", "Time for your questionnaire")
    return client.messages.create(to=to, **kwargs)


def test_send_is_recorded_and_returned_like_twilio(fake, client):
    sent = send(client, status_callback="http://127.0.0.1:9/status")

    assert SID.match(sent.sid)
    assert (sent.to, sent.from_, sent.status, sent.direction) == (RECIPIENT, SENDER, "queued", "outbound-api")
    assert sent.account_sid == fake.account_sid
    assert sent.api_version == "2010-04-01" and sent.error_code is None and sent.price is None
    assert isinstance(sent.date_created, datetime)
    recorded = fake.wait_for(lambda m: m["sid"] == sent.sid)
    assert recorded["status_callback"] == "http://127.0.0.1:9/status"
    assert recorded["body"] == "Time for your questionnaire"
    assert fake.messages_to(RECIPIENT) == [recorded]
    assert fake.requests_seen == 1


def test_fetch_returns_stored_message_or_404(client):
    sent = send(client)

    assert client.messages(sent.sid).fetch().body == sent.body
    with pytest.raises(TwilioRestException) as raised:
        client.messages("SM" + "0" * 32).fetch()
    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_messaging_service_sid_replaces_from(fake, client):
    sent = send(client, from_=None, messaging_service_sid="MG" + "1" * 32)

    assert sent.from_ is None and sent.messaging_service_sid == "MG" + "1" * 32
    assert fake.messages[0]["messaging_service_sid"] == "MG" + "1" * 32


def test_wrong_credentials_get_401(fake):
    intruder = Client(fake.account_sid, "wrong-token")
    intruder.api.base_url = fake.base_url

    with pytest.raises(TwilioRestException) as raised:
        send(intruder)
    assert (raised.value.status, raised.value.code) == (401, 20003)
    assert fake.messages == []


@pytest.mark.parametrize("fields, code", [
    ({"to": ""}, 21604),
    ({"body": None}, 21602),
    ({"from_": None}, 21603),
])
def test_missing_fields_get_twilio_400s(fake, client, fields, code):
    with pytest.raises(TwilioRestException) as raised:
        send(client, **fields)
    assert (raised.value.status, raised.value.code) == (400, code)
    assert fake.messages == []


@pytest.mark.parametrize("kind, status, code", [
    ("429", 429, 20429), ("500", 500, 20500), ("503", 503, 20503),
    ("21211", 400, 21211), ("21610", 400, 21610), ("21614", 400, 21614),
])
def test_injected_failures_raise_with_status_and_code(fake, client, kind, status, code):
    fake.fail_next(kind)

    with pytest.raises(TwilioRestException) as raised:
        send(client)
    assert (raised.value.status, raised.value.code) == (status, code)
    assert fake.messages == []
    assert SID.match(send(client).sid), "only the next request fails"


def test_fail_next_counts_down(fake, client):
    fake.fail_next(429, times=2)

    for _ in range(2):
        with pytest.raises(TwilioRestException):
            send(client)
    send(client)
    assert len(fake.messages) == 1 and fake.requests_seen == 3


def test_timeout_raises_in_client_but_message_is_recorded(fake, client):
    fake.timeout_sleep = 1.0
    fake.fail_next("timeout")

    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        send(client)
    assert time.monotonic() - started < 0.9
    assert len(fake.messages) == 1
    assert SID.match(send(client).sid), "the server keeps serving while one request sleeps"


def test_fail_for_affects_only_that_number(fake, client):
    fake.fail_for("+8613800000000", "21610")

    with pytest.raises(TwilioRestException) as raised:
        send(client, to="+8613800000000")
    assert raised.value.code == 21610
    send(client)
    with pytest.raises(TwilioRestException):
        send(client, to="+8613800000000")
    assert [m["to"] for m in fake.messages] == [RECIPIENT]

    fake.clear()
    send(client, to="+8613800000000")
    assert fake.requests_seen == 1


def test_unknown_failure_kind_is_rejected(fake):
    with pytest.raises(ValueError):
        fake.fail_next("404")


def test_deliver_posts_a_status_callback_twilio_would_sign(fake, client, receiver):
    url = receiver.url + "/sms/status?participant=P-001"
    sent = send(client, status_callback=url)

    assert fake.deliver(sent.sid, "undelivered", error_code=30003) == 204
    path, headers, form = receiver.seen[0]
    assert path == "/sms/status?participant=P-001"
    assert form == {"MessageSid": sent.sid, "SmsSid": sent.sid, "AccountSid": fake.account_sid,
                    "MessageStatus": "undelivered", "SmsStatus": "undelivered", "To": RECIPIENT,
                    "From": SENDER, "ApiVersion": "2010-04-01", "ErrorCode": "30003"}
    assert RequestValidator(fake.auth_token).validate(url, form, headers["X-Twilio-Signature"])
    assert client.messages(sent.sid).fetch().status == "undelivered"


def test_send_inbound_is_signed_and_signature_can_be_forged(fake, receiver):
    url = receiver.url + "/sms/inbound"
    validator = RequestValidator(fake.auth_token)

    assert fake.send_inbound(url, RECIPIENT, SENDER, "STOP") == 204
    assert fake.send_inbound(url, RECIPIENT, SENDER, "STOP", signature="forged") == 204
    (_, good, form), (_, bad, _) = receiver.seen
    assert form["Body"] == "STOP" and form["From"] == RECIPIENT and form["NumMedia"] == "0"
    assert SID.match(form["MessageSid"]) and form["AccountSid"] == fake.account_sid
    assert validator.validate(url, form, good["X-Twilio-Signature"])
    assert not validator.validate(url, form, bad["X-Twilio-Signature"])


def test_concurrent_sends_are_all_recorded(fake):
    def burst(thread):
        client = make_client(fake, timeout=5)
        return [send(client, to=f"+86138{thread:02d}{n:06d}").sid for n in range(50)]

    with ThreadPoolExecutor(8) as pool:
        sids = [sid for batch in pool.map(burst, range(8)) for sid in batch]

    assert len(sids) == len(set(sids)) == 400
    assert sorted(m["sid"] for m in fake.messages) == sorted(sids)
    assert fake.requests_seen == 400


@pytest.mark.parametrize("body, segments", [
    ("a" * 160, 1), ("a" * 161, 2), ("€" * 80, 1), ("您" * 70, 1), ("您" * 71, 2),
])
def test_segments_follow_gsm7_and_ucs2_limits(body, segments):
    assert num_segments(body) == segments
