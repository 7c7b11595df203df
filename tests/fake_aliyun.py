"""A loopback fake of Alibaba Cloud's SMS API (dysmsapi 2017-05-25) and its HTTP push, for tests and benchmarks.

Start one, point the real SDK at it (``PRO_ALIYUN_ENDPOINT = fake.endpoint``), send, and inspect::

    with FakeAliyun(templates=TemplateSet()) as fake:
        ...  # the app's AliyunGateway sends SendSms through alibabacloud_dysmsapi20170525
        sent = fake.wait_for(lambda m: m["to"] == "13800138001")
        fake.push_report(app_url, sent["biz_id"], success=True)  # SmsReport, as Alibaba pushes it

What it checks, as Alibaba does: the request is signed the way the SDK (alibabacloud-tea-openapi
0.4) signs RPC calls, ACS3-HMAC-SHA256 in an ``Authorization`` header over the method, path,
canonical query, the signed headers and the SHA-256 of the body (a wrong key or secret gets
``SignatureDoesNotMatch``, HTTP 400); ``SignName`` is the registered signature; ``TemplateCode``
is a registered template and ``TemplateParam`` carries exactly its variables, each within 35
characters unless it is a link. Business refusals come back as HTTP 200 with a ``Code``, like
the real API.

Failure kinds for ``fail_next``/``fail_for``: ``"flow"`` (isv.BUSINESS_LIMIT_CONTROL),
``"invalid"`` (isv.MOBILE_NUMBER_ILLEGAL), ``"balance"`` (isv.AMOUNT_NOT_ENOUGH), ``"template"``
(isv.SMS_TEMPLATE_ILLEGAL), ``"500"`` (HTTP 500, isp.SYSTEM_ERROR) and ``"timeout"`` (records
the text, then answers after ``timeout_sleep`` seconds, like a send whose answer was lost).
"""

import hashlib
import hmac
import json
import re
import sys
import time
import uuid
from urllib.parse import parse_qsl, quote, urlsplit
from urllib.request import Request

from loopback import OPENER, Handler, LoopbackFake, serve_until_stdin_closes

ACCESS_KEY_ID = "LTAI5tFakeAccessKey01"
ACCESS_KEY_SECRET = "fake-secret-0123456789abcdef0123"
SIGN_NAME = "研究中心"
FAILURES = {
    "flow": (200, "isv.BUSINESS_LIMIT_CONTROL", "触发号码天级流控"),
    "invalid": (200, "isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
    "balance": (200, "isv.AMOUNT_NOT_ENOUGH", "账户余额不足"),
    "template": (200, "isv.SMS_TEMPLATE_ILLEGAL", "模板不合法"),
    "500": (500, "isp.SYSTEM_ERROR", "系统错误"),
    "timeout": None,
}
_AUTH = re.compile(r"ACS3-HMAC-SHA256 Credential=(?P<ak>[^,]+),"
                   r"SignedHeaders=(?P<headers>[^,]+),Signature=(?P<sig>[0-9a-f]+)")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def acs3_signature(secret, method, path, query, headers, signed_headers, payload_hash):
    """Return the ACS3-HMAC-SHA256 signature of a request, as the SDK computes it."""
    canonical_query = "&".join(f"{k}={quote(query[k], safe='~')}" for k in sorted(query))
    canonical_headers = "".join(f"{name}:{headers.get(name, '').strip()}\n" for name in signed_headers)
    canonical = "\n".join([method, path or "/", canonical_query, canonical_headers,
                           ";".join(signed_headers), payload_hash])
    to_sign = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canonical.encode()).hexdigest()
    return hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


class FakeAliyun(LoopbackFake):
    """Alibaba Cloud's SendSms on 127.0.0.1 that checks signatures and templates, records texts, refuses on demand."""

    thread_name = "fake-aliyun"
    failures = FAILURES

    def __init__(self, templates=None, access_key_id=ACCESS_KEY_ID, access_key_secret=ACCESS_KEY_SECRET,
                 sign_name=SIGN_NAME):
        super().__init__()
        self.access_key_id, self.access_key_secret, self.sign_name = access_key_id, access_key_secret, sign_name
        self.registered = {}
        if templates is not None:
            self.register(templates)
        self.endpoint = None
        self.refused = []
        self.app_client = None

    def register(self, templates):
        """Register every template of a TemplateSet: code -> (wording, variables, link variables)."""
        for entry in templates.kinds.values():
            variables = entry.get("variables") or {}
            for language in ("zh-CN", "en"):
                if isinstance(entry.get(language), dict):
                    text = entry[language]["text"]
                    links = {n for n, rule in variables.items() if (rule or {}).get("kind") == "link"}
                    self.registered[entry[language]["code"]] = (text, set(_VARIABLE.findall(text)), links)

    def start(self):
        """Serve on a free loopback port in a daemon thread and return self."""
        self.endpoint = self.serve(_Handler)
        return self

    def clear(self):
        """Forget texts, refusals, the request count and injected failures."""
        with self._changed:
            super().clear()
            self.refused.clear()

    def push_report(self, url, biz_id, success=True, err_code=None, err_msg=None):
        """POST one SmsReport for a recorded text, as Alibaba's batch push does; return (status, body)."""
        sent = next(m for m in self.messages if m["biz_id"] == biz_id)
        item = {"phone_number": sent["to"], "send_time": sent["send_time"],
                "report_time": time.strftime("%Y-%m-%d %H:%M:%S"), "success": success,
                "err_code": err_code or ("DELIVERED" if success else "UNDELIV"),
                "err_msg": err_msg or ("用户接收成功" if success else "失败"),
                "sms_size": "1", "biz_id": biz_id, "out_id": sent["out_id"]}
        return self.post(url, [item])

    def push_up(self, url, number, content, sequence_id=None):
        """POST one SmsUp (a reply from a phone), as Alibaba's batch push does; return (status, body)."""
        item = {"phone_number": number, "send_time": time.strftime("%Y-%m-%d %H:%M:%S"), "content": content,
                "sign_name": self.sign_name, "dest_code": "1234",
                "sequence_id": sequence_id or uuid.uuid4().int % 10**12}
        return self.post(url, [item])

    def post(self, url, payload, raw=None):
        """POST JSON (or raw bytes) to the app; return (status, body).

        With ``app_client`` set (a Flask test client), the push goes to it instead of over HTTP.
        """
        data = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
        if self.app_client is not None:
            response = self.app_client.post(urlsplit(url).path, data=data, content_type="application/json")
            return response.status_code, response.get_data(as_text=True)
        request = Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
        try:
            with OPENER.open(request, timeout=5) as response:
                return response.status, response.read().decode()
        except Exception as exc:  # HTTPError carries the status
            if hasattr(exc, "code"):
                return exc.code, exc.read().decode()
            raise

    def _send_sms(self, query):
        text = self._check(query)
        if isinstance(text, tuple):
            return text
        failure = self._injected_failure(query.get("PhoneNumbers", ""))
        if failure and failure != "timeout":
            status, code, message = FAILURES[failure]
            self.refused.append({"to": query.get("PhoneNumbers"), "code": code, "out_id": query.get("OutId")})
            return status, {"Code": code, "Message": message, "RequestId": str(uuid.uuid4())}
        biz_id = f"{uuid.uuid4().int % 10**18}^0"
        params = json.loads(query.get("TemplateParam") or "{}")
        record = {"to": query["PhoneNumbers"], "sign_name": query["SignName"],
                  "template_code": query["TemplateCode"], "params": params, "out_id": query.get("OutId"),
                  "biz_id": biz_id, "text": text, "send_time": time.strftime("%Y-%m-%d %H:%M:%S")}
        self._record(record)
        if failure == "timeout":
            self._stopping.wait(self.timeout_sleep)
        return 200, {"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": str(uuid.uuid4())}

    def _check(self, query):
        """Return the text as the phone shows it, or an error answer for a request Alibaba would refuse."""
        def refuse(code, message):
            self.refused.append({"to": query.get("PhoneNumbers"), "code": code, "out_id": query.get("OutId")})
            return 200, {"Code": code, "Message": message, "RequestId": str(uuid.uuid4())}

        for field in ("PhoneNumbers", "SignName", "TemplateCode"):
            if not query.get(field):
                return refuse("isv.INVALID_PARAMETERS", f"{field} is missing")
        if query["SignName"] != self.sign_name:
            return refuse("isv.SMS_SIGNATURE_ILLEGAL", "签名不合法")
        if query["TemplateCode"] not in self.registered:
            return refuse("isv.SMS_TEMPLATE_ILLEGAL", "模板不合法")
        wording, names, links = self.registered[query["TemplateCode"]]
        try:
            params = json.loads(query.get("TemplateParam") or "{}")
        except ValueError:
            return refuse("isv.INVALID_JSON_PARAM", "JSON参数不合法")
        if (not isinstance(params, dict) or set(params) != names
                or not all(isinstance(v, str) for v in params.values())):
            return refuse("isv.TEMPLATE_MISSING_PARAMETERS", f"expected {sorted(names)}, got {sorted(params)}")
        if any(len(v) > 35 and k not in links for k, v in params.items()):
            return refuse("isv.PARAM_LENGTH_LIMIT", "变量长度受限")
        return f"【{query['SignName']}】" + _VARIABLE.sub(lambda m: params[m.group(1)], wording)

    def _authorized(self, method, path, query, headers, body):
        match = _AUTH.fullmatch(headers.get("authorization", ""))
        if match is None or match["ak"] != self.access_key_id:
            return False
        payload_hash = hashlib.sha256(body).hexdigest()
        if headers.get("x-acs-content-sha256") != payload_hash:
            return False
        signed = match["headers"].split(";")
        expected = acs3_signature(self.access_key_secret, method, path, query, headers, signed, payload_hash)
        return hmac.compare_digest(expected, match["sig"])


class _Handler(Handler):
    def do_POST(self):
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        fake._count_request()
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        headers = {k.lower(): v for k, v in self.headers.items()}
        if not fake._authorized("POST", parts.path, query, headers, body):
            return self._reply(400, {"Code": "SignatureDoesNotMatch", "RequestId": str(uuid.uuid4()),
                                     "Message": "Specified signature does not match our calculation."})
        if headers.get("x-acs-action") != "SendSms" or headers.get("x-acs-version") != "2017-05-25":
            return self._reply(404, {"Code": "InvalidAction.NotFound", "RequestId": str(uuid.uuid4()),
                                     "Message": "Specified api is not found"})
        self._reply(*fake._send_sms(query))

    def do_GET(self):
        if not self.answer_recorded():
            self._reply(404, {"Code": "NotFound"})

    do_DELETE = do_GET

    def _reply(self, status, payload):
        body = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    # For RemoteFake: serve until standard input closes.
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    from pro_app.sms.templates import TemplateSet

    serve_until_stdin_closes(FakeAliyun(TemplateSet()), "endpoint")
