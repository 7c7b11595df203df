"""Alibaba Cloud SMS: approved templates sent through the official SDK (dysmsapi 2017-05-25)."""

import json
import logging

from pro_app.sms.gateway import SendResult
from pro_app.sms.routing import parse_limits
from pro_app.sms.templates import TemplateError, kind_of

log = logging.getLogger(__name__)

DEFAULT_ENDPOINT = "dysmsapi.aliyuncs.com"
#: Texts one number may get, after Alibaba's default frequency rules for one signature;
#: the dispatcher keeps to them so that they are never met as isv.BUSINESS_LIMIT_CONTROL.
DEFAULT_NUMBER_LIMITS = "1/minute,5/hour,40/day"
#: Flow control: the provider refused for now; the same text may be tried again later.
RETRY_CODES = {"isv.BUSINESS_LIMIT_CONTROL", "isv.BUSINESS_LIMIT_CONTROL_MINUTE", "isv.BUSINESS_LIMIT_HOUR",
               "isv.BUSINESS_LIMIT_DAY", "BUSINESS_LIMIT_CONTROL_MINUTE", "BUSINESS_LIMIT_CONTROL_PHONE",
               "Throttling", "Throttling.User", "Throttling.Api", "ServiceUnavailable"}
#: The number cannot take texts: flag it (and alert) like Twilio's invalid numbers.
UNREACHABLE_CODES = {"isv.MOBILE_NUMBER_ILLEGAL", "isv.PHONE_NUMBER_ILLEGAL", "isv.NOT_SUPPORTED_COUNTRY"}
#: Nothing on this route can be sent until a person acts (balance, approval, account, keys).
STOP_ROUTE_CODES = {"isv.AMOUNT_NOT_ENOUGH", "isv.OUT_OF_SERVICE", "isv.BILLING_DEDUCTION_ERROR",
                    "isv.SMS_TEMPLATE_ILLEGAL", "isv.SMS_SIGNATURE_ILLEGAL", "isv.SMS_CONTENT_CODE_ILLEGAL",
                    "isv.SMS_SIGN_NAME_ILLEGAL", "isv.PRODUCT_UN_SUBSCRIPT", "isv.PRODUCT_UNSUBSCRIBE",
                    "isv.ACCOUNT_NOT_EXISTS", "isv.ACCOUNT_ABNORMAL", "isp.RAM_PERMISSION_DENY",
                    "InvalidAccessKeyId.NotFound", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                    "IncompleteSignature", "Forbidden.RAM"}


def classify(code, message):
    """Decide what an Alibaba error code means for the text (and for the route)."""
    detail = f"{code}: {message or ''}"[:200]
    if code in RETRY_CODES:
        return SendResult("retry", error_message=detail)
    if code in UNREACHABLE_CODES:
        return SendResult("failed", error_message=detail, flag="unreachable")
    if code in STOP_ROUTE_CODES:
        # Refused before sending: the text waits for the route to be restarted.
        return SendResult("held", error_message=detail)
    if code and code.startswith("isp."):
        return SendResult("unknown", error_message=detail)  # the provider's own failure: maybe queued
    return SendResult("failed", error_message=detail)


def provider_number(phone):
    """Write an E.164 number as Alibaba takes it: mainland numbers bare, others with country code."""
    digits = phone.lstrip("+")
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


class AliyunGateway:
    """Send approved templates through the real Alibaba Cloud SDK, with an explicit timeout."""

    name = "aliyun"

    def __init__(self, access_key_id, access_key_secret, *, sign_name, templates, public_url,
                 endpoint=None, timeout=10.0, number_limits=DEFAULT_NUMBER_LIMITS):
        from alibabacloud_dysmsapi20170525.client import Client
        from alibabacloud_tea_openapi.utils_models import Config

        if not access_key_id or not access_key_secret:
            raise ValueError("the aliyun SMS route needs PRO_ALIYUN_ACCESS_KEY_ID and PRO_ALIYUN_ACCESS_KEY_SECRET")
        if not sign_name:
            raise ValueError("the aliyun SMS route needs PRO_ALIYUN_SIGN_NAME (the approved signature)")
        endpoint = endpoint or DEFAULT_ENDPOINT
        protocol = "HTTPS"
        if endpoint.startswith(("http://", "https://")):
            scheme, _, endpoint = endpoint.partition("://")
            protocol = scheme.upper()  # a loopback fake speaks plain HTTP
        millis = int(float(timeout) * 1000)
        self.client = Client(Config(access_key_id=access_key_id, access_key_secret=access_key_secret,
                                    endpoint=endpoint.rstrip("/"), protocol=protocol,
                                    connect_timeout=millis, read_timeout=millis))
        self.sign_name, self.templates, self.public_url = sign_name, templates, public_url
        self.number_limits = parse_limits(number_limits)
        self.timeout = millis

    def send(self, to, body, status_callback=None, message=None):
        from alibabacloud_dysmsapi20170525.models import SendSmsRequest
        from darabonba.runtime import RuntimeOptions
        from Tea.exceptions import TeaException, UnretryableException

        if message is None:
            return SendResult("failed", error_message="an approved template needs the outbox text")
        kind = kind_of(message.template, message.params)
        try:
            template, values = self.templates.params_for(kind, message.language, message.params, body,
                                                         self.public_url)
        except TemplateError as exc:
            log.warning("text %s cannot be sent on its approved template: %s", message.id, exc)
            return SendResult("failed", error_message=str(exc)[:200])
        request = SendSmsRequest(
            phone_numbers=provider_number(to), sign_name=self.sign_name, template_code=template.code,
            template_param=json.dumps(values, ensure_ascii=False) if values else None,
            out_id=str(message.id),
        )
        # The SDK must never retry on its own: a lost answer is "outcome unknown", not a resend.
        runtime = RuntimeOptions(autoretry=False, max_attempts=1, read_timeout=self.timeout,
                                 connect_timeout=self.timeout)
        try:
            response = self.client.send_sms_with_options(request, runtime)
        except UnretryableException as exc:
            return classify_transport(exc.inner_exception)
        except TeaException as exc:
            status = getattr(exc, "status_code", None) or (exc.data or {}).get("statusCode")
            if status and int(status) >= 500:
                return SendResult("unknown", error_message=f"{exc.code}: server error {status}"[:200])
            return classify(exc.code, exc.message)
        answer = response.body
        if answer.code == "OK":
            return SendResult("sent", provider_sid=answer.biz_id)
        return classify(answer.code, answer.message)


def classify_transport(exc):
    """Decide whether a network failure happened before Alibaba could have the text."""
    text = str(exc)
    if "NewConnectionError" in text or "Connection refused" in text or "ConnectTimeout" in text:
        return SendResult("retry", error_message="could not connect")
    return SendResult("unknown", error_message=f"no answer ({type(exc).__name__})")
