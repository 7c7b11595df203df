"""A loopback fake of Twilio's Messages API and webhooks, for tests and benchmarks.

Start one, point a real ``twilio.rest.Client`` at it, send, and inspect what arrived::

    with FakeTwilio() as fake:
        client = make_client(fake, timeout=0.5)
        sent = client.messages.create(to="+8613800138001", from_="+15005550006",
                                      body="hi", status_callback="http://127.0.0.1:5000/sms/status")
        fake.wait_for(lambda m: m["sid"] == sent.sid)
        fake.deliver(sent.sid, "delivered")   # signed POST to the status callback

How the twilio 9.x SDK is pointed at the fake: every REST domain is a
``twilio.base.domain.Domain`` whose ``base_url`` (``https://api.twilio.com`` for
``client.api``) is prefixed to each request path, and ``client.messages`` and
``client.api.v2010.account.messages`` both go through the one cached ``client.api``
object. So ``client.api.base_url = fake.base_url`` sends Messages requests to
``{fake.base_url}/2010-04-01/Accounts/{sid}/Messages.json`` with the SDK's own
Basic auth, headers and form encoding. ``make_client`` does that and also gives the
``TwilioHttpClient`` a timeout, stops its ``requests`` session from using proxy
settings from the environment, and ignores ``TWILIO_REGION``/``TWILIO_EDGE``, which
would otherwise rewrite the loopback host name.

Failure kinds for ``fail_next``/``fail_for``: ``"429"``, ``"500"``, ``"503"``,
``"21211"``, ``"21610"``, ``"21614"`` answer with Twilio's error JSON (so the SDK
raises ``TwilioRestException`` with ``.status`` and ``.code``); ``"timeout"`` records
the message, waits ``timeout_sleep`` seconds and then answers 201, like a real send
whose response was lost; the SDK does not wrap that, so the caller sees
``requests.exceptions.Timeout``. Failures apply to message creates only, after the
auth check; a queued ``fail_next`` is used before any ``fail_for``. Delivery failures
(30xxx) are status callbacks: ``fake.deliver(sid, "undelivered", error_code=30003)``.

Simplification: every accepted send starts as ``"queued"``, even one sent with only a
``MessagingServiceSid`` (real Twilio reports ``"accepted"`` then).
"""

import base64
import hashlib
import hmac
import json
import math
import re
import time
import uuid
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.error import HTTPError
from urllib.parse import parse_qs, urlencode
from urllib.request import Request

from loopback import OPENER, Handler, LoopbackFake, serve_until_stdin_closes
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

API_VERSION = "2010-04-01"
DEFAULT_ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
DEFAULT_AUTH_TOKEN = "fedcba9876543210" * 2

# kind -> (HTTP status, Twilio error code, message)
FAILURES = {
    "429": (429, 20429, "Too Many Requests"),
    "500": (500, 20500, "Internal Server Error"),
    "503": (503, 20503, "Service Unavailable"),
    "21211": (400, 21211, "The 'To' number is not a valid phone number."),
    "21610": (400, 21610, "Attempt to send to unsubscribed recipient"),
    "21614": (400, 21614, "'To' number is not a valid mobile number"),
    "timeout": None,
}

_CREATE_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
_FETCH_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$")

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


def twilio_signature(auth_token, url, params):
    """Return the X-Twilio-Signature Twilio would send for a form POST of params to url."""
    payload = url + "".join(key + params[key] for key in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def num_segments(body):
    """Count the SMS segments Twilio would bill for body (GSM-7 or UCS-2)."""
    if set(body) <= _GSM_BASIC | _GSM_EXTENDED:
        units = len(body) + sum(char in _GSM_EXTENDED for char in body)
        single, part = 160, 153
    else:
        units = len(body.encode("utf-16-le")) // 2
        single, part = 70, 67
    return 1 if units <= single else math.ceil(units / part)


def make_client(fake, timeout=5.0):
    """Return a real twilio.rest.Client that talks to fake with the given request timeout."""
    http_client = TwilioHttpClient(timeout=timeout)
    http_client.session.trust_env = False
    client = Client(fake.account_sid, fake.auth_token, http_client=http_client)
    client.region = client.edge = None
    client.api.base_url = fake.base_url
    return client


def _error(status, code, message):
    """Build Twilio's legacy error body, the shape the SDK turns into TwilioRestException."""
    return status, {"code": code, "message": message,
                    "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}


class FakeTwilio(LoopbackFake):
    """A Twilio Messages API on 127.0.0.1 that records sends and can fail on demand."""

    thread_name = "fake-twilio"
    failures = FAILURES

    def __init__(self, account_sid=DEFAULT_ACCOUNT_SID, auth_token=DEFAULT_AUTH_TOKEN):
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.base_url = None
        self._by_sid = {}

    def start(self):
        """Serve on a free loopback port in a daemon thread and return self."""
        self.base_url = self.serve(_Handler)
        return self

    def clear(self):
        """Forget messages, the request count and all injected failures."""
        with self._changed:
            super().clear()
            self._by_sid.clear()

    def deliver(self, sid, status="delivered", error_code=None, signature=None):
        """POST a signed status callback for message sid and return the HTTP status received."""
        with self._changed:
            message = self._by_sid[sid]
            if not message["status_callback"]:
                raise ValueError(f"message {sid} was sent without a StatusCallback")
            message["status"] = status
            message["error_code"] = error_code
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": self.account_sid,
                  "MessageStatus": status, "SmsStatus": status, "To": message["to"],
                  "ApiVersion": API_VERSION}
        if message["from"]:
            params["From"] = message["from"]
        if message["messaging_service_sid"]:
            params["MessagingServiceSid"] = message["messaging_service_sid"]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
        return self._post_signed(message["status_callback"], params, signature)

    def send_inbound(self, url, from_, to, body, signature=None):
        """POST a signed inbound-SMS webhook to url and return the HTTP status received."""
        sid = _new_sid("SM")
        params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid,
                  "AccountSid": self.account_sid, "From": from_, "To": to, "Body": body,
                  "NumMedia": "0", "NumSegments": str(num_segments(body)),
                  "SmsStatus": "received", "ApiVersion": API_VERSION}
        return self._post_signed(url, params, signature)

    def _post_signed(self, url, params, signature):
        """POST params to url as Twilio does; an explicit signature replaces the real one."""
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "X-Twilio-Signature": signature or twilio_signature(self.auth_token, url, params),
                   "User-Agent": "TwilioProxy/1.1"}
        request = Request(url, data=urlencode(params).encode(), headers=headers, method="POST")
        try:
            with OPENER.open(request, timeout=5) as response:
                return response.status
        except HTTPError as error:
            # A 4xx/5xx answer is a result for the test to check, not a failure to deliver.
            error.close()
            return error.code

    def _authorized(self, header):
        """Tell whether an Authorization header carries this account's SID and token."""
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return hmac.compare_digest((header or "").encode(), f"Basic {expected}".encode())

    def _create(self, form):
        """Handle a Messages create: return (HTTP status, JSON body)."""
        kind = self._injected_failure(form.get("To"))
        if kind not in (None, "timeout"):
            return _error(*FAILURES[kind])
        problem = _missing_field(form)
        if problem:
            return problem
        message = self._record(form)
        if kind == "timeout":
            # Twilio may accept a send whose response never reaches the client.
            self._stopping.wait(self.timeout_sleep)
        return 201, self._resource(message)

    def _fetch(self, sid):
        """Handle a Messages fetch: return (HTTP status, JSON body)."""
        with self._changed:
            message = self._by_sid.get(sid)
        if message is None:
            return _not_found(f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}.json")
        return 200, self._resource(message)

    def _record(self, form):
        """Store an accepted send and wake anyone in wait_for."""
        message = {"sid": _new_sid("SM"), "to": form["To"], "from": form.get("From"),
                   "messaging_service_sid": form.get("MessagingServiceSid"), "body": form["Body"],
                   "status_callback": form.get("StatusCallback"), "status": "queued",
                   "error_code": None, "received_at": time.time()}
        with self._changed:
            self._by_sid[message["sid"]] = message
            return super()._record(message)

    def _resource(self, message):
        """Render a stored message as the Message resource JSON Twilio returns."""
        created = format_datetime(datetime.fromtimestamp(message["received_at"], UTC))
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{message['sid']}.json"
        return {
            "sid": message["sid"], "account_sid": self.account_sid, "to": message["to"],
            "from": message["from"], "messaging_service_sid": message["messaging_service_sid"],
            "body": message["body"], "status": message["status"],
            "num_segments": str(num_segments(message["body"])), "num_media": "0",
            "direction": "outbound-api", "api_version": API_VERSION, "date_created": created,
            "date_updated": created, "date_sent": None, "error_code": message["error_code"],
            "error_message": None, "price": None, "price_unit": "USD", "uri": uri,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
        }


def _missing_field(form):
    """Return Twilio's 400 for the first required field the form lacks, else None."""
    if not form.get("To"):
        return _error(400, 21604, "A 'To' phone number is required.")
    if not (form.get("From") or form.get("MessagingServiceSid")):
        return _error(400, 21603, "A 'From' phone number is required.")
    if not form.get("Body"):
        return _error(400, 21602, "Message body is required.")
    return None


def _not_found(path):
    """Build Twilio's 404 for a path it does not know."""
    return _error(404, 20404, f"The requested resource {path} was not found")


def _new_sid(prefix):
    """Make a Twilio-shaped SID: a two-letter prefix and 32 hex digits."""
    return prefix + uuid.uuid4().hex


class _Handler(Handler):
    def do_POST(self):
        """Create a message."""
        form = self._read_form()
        self._dispatch(_CREATE_PATH, lambda match: self.server.fake._create(form))

    def do_GET(self):
        """Fetch a message."""
        self._read_form()
        if self.answer_recorded():
            return
        self._dispatch(_FETCH_PATH, lambda match: self.server.fake._fetch(match["sid"]))

    def do_DELETE(self):
        if not self.answer_recorded():
            self._reply(*_not_found(self.path))

    def _read_form(self):
        """Read the whole body (so keep-alive stays in sync) and parse it as a form."""
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8")
        return {key: values[0] for key, values in parse_qs(body).items()}

    def _dispatch(self, pattern, handle):
        """Check auth and route, then answer with handle(match) for a matching path."""
        fake = self.server.fake
        fake._count_request()
        path = self.path.split("?", 1)[0]
        match = pattern.match(path)
        if not fake._authorized(self.headers.get("Authorization")):
            self._reply(*_error(401, 20003, "Authenticate"))
        elif match is None or match["account"] != fake.account_sid:
            self._reply(*_not_found(path))
        else:
            self._reply(*handle(match))

    def _reply(self, status, payload):
        """Send payload as a JSON response with the given status."""
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    # For RemoteFake: serve until standard input closes.
    serve_until_stdin_closes(FakeTwilio(), "base_url", "account_sid", "auth_token")
