"""Fuzzed requests at every staff route and at the Twilio webhooks: never a 500, nothing stored when refused.

The staff routes are read from the app's URL map at run time, so a route added later is fuzzed
too. Each example sends one request: path ids up to 2^63 (and real ones), query arguments, and
form fields named as the app's own forms name them (every FlaskForm subclass, nested lists
included), with NUL bytes, huge and negative numbers, dates in years 1 and 9999 and random text.
An admin sends GETs and POSTs; a monitor (read-only) sends POSTs. Every response must be below
500, and a refused one (4xx) must leave the row count of every table as it was.
"""

from datetime import date
from urllib.parse import quote

import pytest
from conftest import NOW, PASSWORD
from fake_twilio import twilio_signature
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from wtforms import FormField

from pro_app.db import Base, db
from pro_app.inputs import MAX_DB_ID
from pro_app.sms.models import Message

START = date(2026, 3, 9)
PATIENT = "+8613800138001"
CAREGIVER = "+447911123456"
#: Logging out would end the fuzzing session; everything else is fair game.
SKIPPED_ENDPOINTS = {"staff.logout"}
#: A refused login may legitimately record the attempt, so its row counts are not compared.
MAY_WRITE_WHEN_REFUSED = {"staff.login"}

NASTY = [
    "", " ", "\x00", "a\x00b", "P-001\x00", "0", "-1", "1", "2147483647", "2147483648", "-2147483649",
    "9223372036854775807", "9223372036854775808", "-9223372036854775809", "9" * 40, "1e400", "NaN", "-0",
    "0001-01-01", "0001-01-01T00:00", "9999-12-31", "9999-12-31T23:59", "1900-01-01", "0000-00-00",
    "10000-01-01", "2026-02-30", "00:00", "23:59", "24:00", "25:61", "x" * 5000, "%", "'", "\"", "<b>",
    "' OR 1=1 --", "\r\n", "\t=1+1", "１２", "\u202e1",
]
PLAUSIBLE = [
    "2026-03-20", "2026-04-01", "10:00", "08:30", "infusion", "marrow", "other", "confirmed", "done", "missed",
    "cancelled", "scheduled", "paused", "active", "withdrawn", "called_patient", "no_action_needed",
    "A reason", "P-001", "P-002", "Asia/Shanghai", "Europe/London", "en", "zh-CN", "+8613800138009",
    "60", "3", "y", "list", "admin@example.org",
]
QUERY_KEYS = ["page", "q", "status", "all", "before", "next", "s", "lang"]


def values():
    return st.one_of(st.sampled_from(NASTY), st.sampled_from(PLAUSIBLE), st.text(max_size=30),
                     st.integers(-(2**64), 2**64).map(str))


def ids(real):
    return st.one_of(st.sampled_from(real or [1]), st.integers(-5, 2**63),
                     st.sampled_from([0, MAX_DB_ID, MAX_DB_ID + 1, 2**63 - 1, 2**63]))


def _leaf_names(field):
    if hasattr(field, "entries"):  # FieldList
        for entry in field.entries:
            yield from _leaf_names(entry)
    elif isinstance(field, FormField):
        for sub in field:
            yield from _leaf_names(sub)
    else:
        yield field.name


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def form_field_names(app):
    """Every field name the app's forms read, as a browser would send them (caregivers-0-phone...)."""
    from flask_wtf import FlaskForm

    names = set()
    with app.test_request_context():
        for cls in _subclasses(FlaskForm):
            if not cls.__module__.startswith("pro_app"):
                continue
            form = cls(meta={"csrf": False})
            for field in form:
                names.update(_leaf_names(field))
    return sorted(names - {"csrf_token"})


def staff_routes(app, methods):
    """(rule, method, endpoint) of every staff route, from the URL map."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/staff") or rule.endpoint in SKIPPED_ENDPOINTS:
            continue
        for method in sorted(rule.methods & set(methods)):
            found.append((rule, method))
    return sorted(found, key=lambda pair: (pair[0].rule, pair[1]))


def row_counts(app):
    """{table: rows} for every table of the schema."""
    with app.app_context():
        return {t.name: db.session.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def real_ids(app):
    """Ids of real rows per converter argument, so that examples also reach the pages behind them."""
    from pro_app.alerts.models import Alert
    from pro_app.questionnaires.models import Assignment, Response
    from pro_app.sms.models import InboundMessage
    from pro_app.visits.models import Visit

    with app.app_context():
        def all_ids(model):
            return db.session.scalars(select(model.id).limit(50)).all()
        return {"visit_id": all_ids(Visit), "assignment_id": all_ids(Assignment), "alert_id": all_ids(Alert),
                "response_id": all_ids(Response), "reply_id": all_ids(InboundMessage)}


@st.composite
def requests(draw, routes, field_names, known):
    rule, method = draw(st.sampled_from(routes))
    path = rule.rule
    for name, converter in rule._converters.items():
        if hasattr(converter, "num_convert"):  # integer-like (dbid, int)
            value = str(draw(ids(known.get(name))))
        else:
            value = draw(st.one_of(st.sampled_from(["P-001", "P-002", "claim", "acknowledge", "resolve"]),
                                   values()))
        start = path.index("<")
        end = path.index(">", start)
        path = path[:start] + quote(value, safe="") + path[end + 1:]
    query = draw(st.dictionaries(st.one_of(st.sampled_from(QUERY_KEYS), st.text(max_size=8)), values(),
                                 max_size=3))
    form = draw(st.dictionaries(st.one_of(st.sampled_from(field_names), st.text(max_size=8)), values(),
                                max_size=12)) if method == "POST" else {}
    return rule.endpoint, method, path, query, form


@pytest.fixture
def app_config(twilio_config):
    """Texts go through the real SDK to the loopback fake, whose auth token signs the webhooks."""
    return twilio_config


@pytest.fixture
def study(app, make_participant, make_staff, tick):
    """Two participants with texts sent, and an admin and a monitor logged in, each with a client of its own.

    Plain test clients, not pytest-flask's `client`: that one keeps the last request's context
    pushed, so a request of the other client would run with a stale context underneath.
    """
    make_participant("P-001", start=START, lang="zh-CN", phone=PATIENT,
                     caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    make_participant("P-002", start=START, lang="en", age="5", phone="",
                     caregivers=[{"phone": "+8613900139002", "name": "Dad", "lang": "zh-CN"}])
    tick(NOW)
    clients = {}
    for role, c in (("admin", app.test_client()), ("monitor", app.test_client())):
        email = make_staff(role)
        c.get("/lang/en")
        response = c.post("/staff/login", data={"email": email, "password": PASSWORD})
        assert response.status_code == 303, role
        assert c.get("/staff/participants/").status_code == 200, role  # really signed in
        clients[role] = c
    return clients


def send(c, method, path, query, form):
    """Send one request and read its whole body (a streamed export ends its transaction only then)."""
    response = c.open(path, method=method, query_string=query, data=form if method == "POST" else None)
    response.get_data()
    response.close()
    return response


def check(app, c, request):
    endpoint, method, path, query, form = request
    before = row_counts(app)
    response = send(c, method, path, query, form)
    assert response.status_code < 500, (response.status_code, request)
    if 400 <= response.status_code < 500 and endpoint not in MAY_WRITE_WHEN_REFUSED:
        assert row_counts(app) == before, ("a refused request stored something", request)
    return response


FUZZ = settings(max_examples=250, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


def test_every_staff_route_survives_fuzzed_requests_from_an_admin(app, study):
    routes = staff_routes(app, {"GET", "POST"})
    assert len(routes) >= 20  # the URL map really was read
    names = form_field_names(app)
    assert {"study_id", "new_date", "caregivers-0-phone", "reason", "note"} <= set(names)
    seen = []

    @FUZZ
    @given(requests(routes, names, real_ids(app)))
    def fuzz(request):
        seen.append(check(app, study["admin"], request).status_code)

    fuzz()
    # The examples reached real pages as well as refusals.
    assert 200 in seen and sum(code < 400 for code in seen) >= 10 and any(code >= 400 for code in seen)


#: Routes that change study data: a monitor (read-only) is refused on every one.
CHANGES_STUDY_DATA = {"participants.new", "participants.change_status", "visits.new", "visits.move", "visits.status",
                      "alerts.change", "questionnaires.resend", "messages.mark_handled"}


def test_a_monitor_posting_anything_anywhere_changes_nothing(app, study):
    routes = [(rule, method) for rule, method in staff_routes(app, {"POST"})
              if rule.endpoint not in MAY_WRITE_WHEN_REFUSED]
    names = form_field_names(app)

    @settings(FUZZ, max_examples=120)
    @given(requests(routes, names, real_ids(app)))
    def fuzz(request):
        before = row_counts(app)
        response = send(study["monitor"], *request[1:])
        assert response.status_code < 500, (response.status_code, request)
        if request[0] in CHANGES_STUDY_DATA:
            assert response.status_code in (400, 403, 404, 405), (response.status_code, request)
        if response.status_code >= 400:
            assert row_counts(app) == before, request

    fuzz()


@pytest.mark.parametrize(("field", "value"), [
    ("new_date", "0001-01-01"), ("new_date", "9999-12-31"), ("new_date", "1900-01-01"), ("new_date", "2050-01-01"),
])
def test_a_visit_cannot_move_outside_the_plausible_study_period(app, study, field, value):
    visit_id = real_ids(app)["visit_id"][3]
    before = row_counts(app)
    response = study["admin"].post(f"/staff/visits/{visit_id}/move",
                                    data={field: value, "new_time": "10:00", "reason": "Fuzz"})
    assert response.status_code == 400
    assert "Choose a date from 2025-03-09 to 2036-03-09." in response.get_data(as_text=True)
    assert row_counts(app) == before


@pytest.mark.parametrize("on", ["0001-01-01", "9999-12-31", "1900-01-01", "1999-12-31"])
def test_a_visit_outside_the_plausible_study_period_is_not_added(app, study, on):
    before = row_counts(app)
    response = study["admin"].post("/staff/participants/P-001/visits/new", data={
        "kind": "other", "on": on, "at": "10:00", "duration_minutes": "60", "reason": "Fuzz"})
    assert response.status_code == 400
    assert "Choose a date from" in response.get_data(as_text=True)
    assert row_counts(app) == before


@pytest.mark.parametrize("path", ["/staff/visits/2147483648", "/staff/visits/9223372036854775808",
                                  "/staff/alerts/0", "/staff/responses/-1", "/staff/visits/00000000001"])
def test_ids_beyond_the_database_range_are_404(study, path):
    assert study["admin"].get(path).status_code == 404


@pytest.mark.parametrize("query", [{"page": "9223372036854775808"}, {"page": "-3"}, {"page": "1e9"},
                                   {"page": "99999999999999999999999"}])
@pytest.mark.parametrize("path", ["/staff/participants/", "/staff/alerts/", "/staff/participants/P-001/timeline"])
def test_absurd_page_numbers_show_a_page(study, path, query):
    assert study["admin"].get(path, query_string=query).status_code == 200


@pytest.mark.parametrize("before", ["9223372036854775808", "-1", "0", "x"])
def test_the_audit_log_ignores_an_absurd_before_id(study, before):
    assert study["admin"].get("/staff/audit/", query_string={"before": before}).status_code == 200


@pytest.mark.parametrize(("method", "path", "kwargs"), [
    ("GET", "/staff/participants/", {"query_string": {"q": "P\x00"}}),
    ("GET", "/staff/participants/P-001%00", {}),
    ("POST", "/staff/participants/P-001/status", {"data": {"status": "paused", "reason": "why\x00"}}),
    ("POST", "/staff/participants/new", {"data": {"study_id": "P-9\x00", "start": "2026-03-09"}}),
])
def test_a_nul_byte_anywhere_in_a_staff_request_is_400(app, study, method, path, kwargs):
    before = row_counts(app)
    response = study["admin"].open(path, method=method, **kwargs)
    assert response.status_code == 400
    assert row_counts(app) == before


@pytest.mark.parametrize("start", ["0001-01-01", "9999-12-31", "1999-12-31"])
def test_an_enrolment_outside_the_plausible_dates_is_refused(app, study, start):
    before = row_counts(app)
    response = study["admin"].post("/staff/participants/new", data={
        "study_id": "P-009", "start": start, "tz": "Asia/Shanghai", "lang": "en", "phone": "+8613800138077"})
    assert response.status_code == 400
    assert "Choose a date from 2000-01-01 to 2099-12-31." in response.get_data(as_text=True)
    assert row_counts(app) == before


# --- the webhooks ------------------------------------------------------------------------------

WEBHOOK_FIELDS = ["MessageSid", "SmsSid", "AccountSid", "MessageStatus", "SmsStatus", "ErrorCode", "To", "From",
                  "Body", "ApiVersion", "NumMedia"]
STATUSES = ["queued", "sent", "delivered", "undelivered", "failed", "read", ""]


@st.composite
def webhook_forms(draw, sids):
    form = {"MessageSid": draw(st.one_of(st.sampled_from(sids), values())),
            "MessageStatus": draw(st.one_of(st.sampled_from(STATUSES), values())),
            "ErrorCode": draw(st.one_of(st.sampled_from(["30003", "21610", "30005", "21211"]), values())),
            "From": draw(st.one_of(st.sampled_from([PATIENT, CAREGIVER]), values())),
            "To": draw(st.one_of(st.just("+15005550006"), values())),
            "Body": draw(st.one_of(st.sampled_from(["STOP", "1", "2", "HELP", "退订"]), values()))}
    extra = draw(st.dictionaries(st.sampled_from(WEBHOOK_FIELDS), values(), max_size=3))
    return {**form, **extra}


def test_webhooks_refuse_unsigned_requests_and_survive_fuzzed_signed_ones(app, client, make_participant, tick,
                                                                         fake_twilio):
    make_participant("P-001", start=START, lang="zh-CN", phone=PATIENT,
                     caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    tick(NOW)
    with app.app_context():
        sids = db.session.scalars(select(Message.provider_sid).where(Message.provider_sid.is_not(None))).all()
    assert sids

    @FUZZ
    @given(st.sampled_from(["/sms/status", "/sms/inbound"]), webhook_forms(sids), st.booleans())
    def fuzz(path, form, signed):
        before = row_counts(app)
        headers = {}
        if signed:
            headers["X-Twilio-Signature"] = twilio_signature(fake_twilio.auth_token, "http://localhost" + path, form)
        response = client.post(path, data=form, headers=headers)
        if not signed:
            assert response.status_code == 403
            assert row_counts(app) == before
        else:
            assert response.status_code < 500, (response.status_code, path, form)
            if response.status_code >= 400:
                assert row_counts(app) == before

    fuzz()
    with app.app_context():
        codes = db.session.scalars(select(Message.error_code).where(Message.error_code.is_not(None))).all()
    assert all(0 < code <= 999_999 for code in codes)


@pytest.mark.parametrize("code", ["2147483648", "9223372036854775808", "-30003", "0", "1e5", "30003\x00"])
def test_a_status_callback_with_an_out_of_range_error_code_stores_no_code(app, client, make_participant, tick,
                                                                          fake_twilio, code):
    make_participant("P-001", start=START, lang="zh-CN", phone=PATIENT)
    tick(NOW)
    with app.app_context():
        sid = db.session.scalar(select(Message.provider_sid).where(Message.provider_sid.is_not(None)))
    form = {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": code, "To": PATIENT}
    response = client.post("/sms/status", data=form, headers={
        "X-Twilio-Signature": twilio_signature(fake_twilio.auth_token, "http://localhost/sms/status", form)})
    assert response.status_code == 204
    with app.app_context():
        message = db.session.scalar(select(Message).where(Message.provider_sid == sid))
    assert message.state.value == "undelivered" and message.error_code is None
