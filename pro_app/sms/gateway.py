"""SMS gateways: `console` for development and the demo, `twilio` and `aliyun` for the real thing."""

import logging
import secrets
from dataclasses import dataclass

import requests
from urllib3.exceptions import NewConnectionError

log = logging.getLogger(__name__)

#: Twilio error codes after which a number should get nothing more.
OPTED_OUT_CODES = {21610}
#: Twilio error codes that mean the number cannot take texts (invalid, landline, unreachable).
UNREACHABLE_CODES = {21211, 21212, 21214, 21217, 21612, 21614, 30003, 30005, 30006}


@dataclass(frozen=True)
class SendResult:
    """What became of one send: sent, retry (safe to try again), held (route stopped), unknown or failed."""

    outcome: str
    provider_sid: str | None = None
    error_code: int | None = None
    error_message: str | None = None
    #: "unreachable", for providers whose error codes are not Twilio's numbers.
    flag: str | None = None
    #: Which route carried the text.
    route: str | None = None

    @property
    def opted_out(self):
        return self.error_code in OPTED_OUT_CODES

    @property
    def unreachable(self):
        return self.error_code in UNREACHABLE_CODES or self.flag == "unreachable"


class ConsoleGateway:
    """Print each text instead of sending it; the outbox keeps it for /dev/phone."""

    name = "console"

    def send(self, to, body, status_callback=None, message=None):
        sid = "CONSOLE" + secrets.token_hex(12)
        print(f"[sms] to {to}: {body}", flush=True)
        return SendResult("sent", provider_sid=sid)


class TwilioGateway:
    """Send through the real Twilio SDK, with an explicit timeout."""

    name = "twilio"

    def __init__(self, account_sid, auth_token, *, sender=None, messaging_service_sid=None,
                 base_url=None, timeout=10.0):
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        if not account_sid or not auth_token:
            raise ValueError("PRO_SMS_BACKEND=twilio needs PRO_TWILIO_ACCOUNT_SID and PRO_TWILIO_AUTH_TOKEN")
        if not sender and not messaging_service_sid:
            raise ValueError("PRO_SMS_BACKEND=twilio needs PRO_TWILIO_FROM or PRO_TWILIO_MESSAGING_SERVICE_SID")
        http_client = TwilioHttpClient(timeout=timeout)
        self.client = Client(account_sid, auth_token, http_client=http_client)
        if base_url:
            http_client.session.trust_env = False  # a loopback gateway is never behind a proxy
            self.client.region = self.client.edge = None
            self.client.api.base_url = base_url.rstrip("/")
        self.sender = sender
        self.messaging_service_sid = messaging_service_sid

    def send(self, to, body, status_callback=None, message=None):
        from twilio.base.exceptions import TwilioRestException

        kwargs = {"to": to, "body": body}
        if self.messaging_service_sid:
            kwargs["messaging_service_sid"] = self.messaging_service_sid
        else:
            kwargs["from_"] = self.sender
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            return classify_rest_error(exc.status, exc.code, str(exc.msg)[:200])
        except requests.RequestException as exc:
            return classify_transport_error(exc)
        return SendResult("sent", provider_sid=message.sid)


def classify_rest_error(status, code, message):
    """Decide what a Twilio error answer means for the message."""
    if status == 429 or code == 20429:
        return SendResult("retry", error_code=code or 429, error_message="rate limited by the gateway")
    if status and status >= 500:
        # The gateway may have queued it before failing: never send again blindly.
        return SendResult("unknown", error_code=code or status, error_message=message)
    return SendResult("failed", error_code=code or status, error_message=message)


def classify_transport_error(exc):
    """Decide whether a network failure happened before the gateway could have the message."""
    if isinstance(exc, requests.ConnectTimeout) or _refused(exc):
        return SendResult("retry", error_message=f"could not connect ({type(exc).__name__})")
    return SendResult("unknown", error_message=f"no answer ({type(exc).__name__})")


def _refused(exc):
    if not isinstance(exc, requests.ConnectionError):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def current_gateway():
    """Return this app's SMS gateway, built on first use."""
    from flask import current_app

    ext = current_app.extensions
    if "pro_sms_gateway" not in ext:
        ext["pro_sms_gateway"] = make_gateway(current_app.config, ext.get("pro_sms_templates"))
    return ext["pro_sms_gateway"]


def make_gateway(config, templates=None):
    """Build the gateway the configuration names: one backend, or one per route (PRO_SMS_ROUTES)."""
    from pro_app.sms.routing import RoutedGateway, parse_routes

    rules = parse_routes(config.get("SMS_ROUTES"), config["SMS_BACKEND"])
    backends = {backend for _, backend in rules}
    if len(backends) == 1:
        return _make_one(config, backends.pop(), templates)
    return RoutedGateway(rules, {backend: _make_one(config, backend, templates) for backend in backends})


def _make_one(config, backend, templates):
    if backend == "console":
        return ConsoleGateway()
    if backend == "twilio":
        return TwilioGateway(
            config.get("TWILIO_ACCOUNT_SID") or _env("TWILIO_ACCOUNT_SID"),
            config.get("TWILIO_AUTH_TOKEN") or _env("TWILIO_AUTH_TOKEN"),
            sender=config.get("TWILIO_FROM"),
            messaging_service_sid=config.get("TWILIO_MESSAGING_SERVICE_SID"),
            base_url=config.get("TWILIO_BASE_URL"),
            timeout=float(config.get("TWILIO_TIMEOUT", 10)),
        )
    if backend == "aliyun":
        from pro_app.sms.aliyun import AliyunGateway

        return AliyunGateway(
            config.get("ALIYUN_ACCESS_KEY_ID"), config.get("ALIYUN_ACCESS_KEY_SECRET"),
            sign_name=config.get("ALIYUN_SIGN_NAME"), templates=templates, public_url=config["PUBLIC_URL"],
            endpoint=config.get("ALIYUN_ENDPOINT"), timeout=float(config.get("ALIYUN_TIMEOUT", 10)),
            **({"number_limits": config["ALIYUN_NUMBER_LIMITS"]} if "ALIYUN_NUMBER_LIMITS" in config else {}),
        )
    raise ValueError(f"PRO_SMS_BACKEND must be console, twilio or aliyun, not {backend!r}")


def _env(name):
    import os

    return os.environ.get(name)


def auth_token(config):
    """Return the Twilio auth token used to verify webhook signatures."""
    return str(config.get("TWILIO_AUTH_TOKEN") or _env("TWILIO_AUTH_TOKEN") or "")
