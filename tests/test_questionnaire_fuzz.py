"""Malformed answers thrown at POST /q/answer: refused with a message, never a 500, nothing stored.

One participant, one started session per test. Every example posts one form to a page the
session has reached; an independent reading of the README's rules (below, `expected`) says
whether the form is acceptable and what the draft must then hold.
"""

import math
import re
from datetime import UTC, date, datetime
from urllib.parse import parse_qsl, urlencode

import pytest
from conftest import NOW
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from pro_app.db import db
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment, Response, ResponseDraft

START = date(2026, 3, 9)  # day 1; baseline is open at NOW (day -7, 12:00 in Shanghai)
OPEN_AT = {"baseline": NOW, "post-infusion": datetime(2026, 3, 9, 11, 0, tzinfo=UTC)}  # day 1, 19:00
MAX_TEXT = 2000
INVALID = object()

# Strings that have tripped parsers elsewhere: odd digits, invisible characters, overflow.
ODD = ["\x00", "\x00yes", "\ufeff1", "１", "٣٧", "37\u00a0.5", "３７.５", "NaN", "-inf", "1e400", "-0", "1_0",
       "0x1", "37,5,1", "yes\u200b", "YES", "true", "1.0", "4.5", "\u202e2", "𝟑", "2026-02-30", "2026-3-1",
       "9" * 5000, "%FF", "\ud7ff", "null", "[]", "{}", "<script>", "' OR 1=1 --", "\r\n", "\t3\t"]




def valid_value(item):
    """A strategy for one acceptable answer to an item, as a browser would send it."""
    if item.type in ("single", "multiple"):
        return st.sampled_from([str(v) for v, _label in item.choices])
    if item.type == "yesno":
        return st.sampled_from(["yes", "no"])
    if item.type == "rating":
        return st.integers(int(item.min), int(item.max)).map(str)
    if item.type == "number":
        return st.decimals(item.min, item.max, places=1).map(str)
    if item.type == "date":
        return st.dates(date(1990, 1, 1), date(2030, 1, 1)).map(date.isoformat)
    return st.text(min_size=1, max_size=60).filter(str.strip)


def huge():
    return st.builds(lambda unit, n: (unit * n)[:100_000], st.text(min_size=1, max_size=4),
                     st.integers(1_000, 100_000))


def scalar():
    """Anything a form field can carry: numbers, junk, odd unicode, raw non-UTF-8 bytes, huge."""
    return st.one_of(
        st.sampled_from(["", " ", "yes", "no", "C", "F", "0", "1", "4", "10", "11", "-1", "42.0", "34", "43.05"]),
        st.sampled_from(ODD),
        st.integers(-10**12, 10**12).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.text(max_size=30),
        st.binary(min_size=1, max_size=12),  # sent as raw bytes: often not UTF-8
        huge(),
    )


@st.composite
def field(draw, item):
    """One item's field: mostly a right answer, else absent, junk, padded, or several values
    (a list where one value is expected)."""
    mode = draw(st.integers(0, 9))
    if mode < 5:
        return [draw(valid_value(item))]
    if mode == 5:
        return []
    if mode == 6:
        return [draw(valid_value(item)).center(draw(st.integers(0, 6)), draw(st.sampled_from(" \t\n\u3000")))]
    if mode == 7:
        return draw(st.lists(st.one_of(valid_value(item), scalar()), min_size=2, max_size=3))
    return [draw(scalar())]


@st.composite
def submissions(draw, instrument):
    """Return (section index sent, form pairs) for one POST /q/answer."""
    n = len(instrument.sections)
    if draw(st.integers(0, 9)) < 8:
        index = draw(st.integers(0, n - 1))
        s = [str(index)] if draw(st.booleans()) else draw(st.sampled_from([[f" {index} "], [str(index), "99"]]))
    else:
        index = draw(st.one_of(st.integers(-3, n + 3), st.integers(-(10**30), 10**30)))
        s = draw(st.one_of(st.just([str(index)]), st.just([]), scalar().map(lambda v: [v])))
    section = instrument.sections[index] if 0 <= index < n else draw(st.sampled_from(instrument.sections))
    pairs = [("s", v) for v in s]
    for item in section.items:
        pairs += [(item.id, v) for v in draw(field(item))]
        if item.unit == "temperature":
            unit = draw(st.one_of(st.none(), st.sampled_from(["C", "F"]), st.sampled_from(["C", "F"]), scalar()))
            if unit is not None:
                pairs.append((f"{item.id}__unit", unit))
    extras = draw(st.lists(st.tuples(st.one_of(st.text(min_size=1, max_size=12),
                                               st.sampled_from(["submit_key", "csrf_token", "q_assignment",
                                                                "answers", "section", "s[]"])),
                                     scalar()), max_size=3))
    pairs += extras
    return draw(st.permutations(pairs))


# --- the rules, read from the README and the instrument file, not from answers.py ----------------

def holds(show_if, answers):
    value = answers.get(show_if["item"])
    if value is None:
        return False
    values = value if isinstance(value, list) else [value]  # a checklist holds if any ticked answer does
    if "gte" in show_if:
        return any(not isinstance(v, bool | str) and v >= show_if["gte"] for v in values)
    wanted = show_if["in"] if "in" in show_if else [show_if["equals"]]
    return any(v == w and type(v) is type(w) for v in values for w in wanted)


def parse(item, raw, form):
    """Return the value stored for an acceptable answer, or INVALID."""
    try:
        if item["type"] == "single":
            value = int(raw)
            return value if value in {c["value"] for c in item["choices"]} else INVALID
        if item["type"] == "rating":
            value = int(raw)
            return value if 0 <= value <= 10 else INVALID
        if item["type"] == "yesno":
            return {"yes": True, "no": False}.get(raw, INVALID)
        if item["type"] == "number":
            value = float(raw.replace(",", "."))
            if not math.isfinite(value):
                return INVALID
            if item.get("unit") == "temperature":
                unit = form.get(f"{item['id']}__unit", "C")
                if unit not in ("C", "F"):
                    return INVALID
                value = (value - 32) * 5 / 9 if unit == "F" else value
            if not item["min"] - 1e-9 <= value <= item["max"] + 1e-9:
                return INVALID
            return round(value, max(item.get("decimals", 0), 1 if item.get("unit") == "temperature" else 0))
        if item["type"] == "date":
            value = date.fromisoformat(raw)
            return value.isoformat() if date(1900, 1, 1) <= value <= date(2100, 1, 1) else INVALID
        return raw if len(raw) <= min(item.get("max_length", 500), MAX_TEXT) else INVALID
    except ValueError:
        return INVALID


def expected(definition, index, form, before):
    """Return (acceptable, answers the draft must hold afterwards) for one section's form."""
    shared = definition.get("choices", {})
    items = [dict(raw, choices=shared.get(raw.get("choices"), raw.get("choices")))
             for section in definition["sections"] for raw in section["items"]]
    own = {raw["id"] for raw in definition["sections"][index]["items"]}
    merged = {k: v for k, v in before.items() if k not in own}
    acceptable = True
    for item in (i for i in items if i["id"] in own):
        if "show_if" in item and not holds(item["show_if"], merged):
            continue
        if item["type"] == "multiple":  # a checklist sends every ticked value; each must be a choice
            ticked = form.getlist(item["id"])
            if not ticked:
                acceptable = acceptable and not item.get("required", True)
                continue
            try:
                values = {int(v) for v in ticked}
            except ValueError:
                values = None
            if values is None or not values <= {c["value"] for c in item["choices"]}:
                acceptable = False
            else:
                merged[item["id"]] = sorted(values)
            continue
        raw = form.get(item["id"])  # a browser sends one value; the first one counts
        if raw is not None and item["type"] == "text":
            raw = raw.replace("\x00", "")  # dropped from free text: nobody types it, JSONB refuses it
        if raw is None or not raw.strip():
            acceptable = acceptable and not item.get("required", True)
            continue
        value = parse(item, raw.strip(), form)
        if value is INVALID:
            acceptable = False
        else:
            merged[item["id"]] = value
    kept = {}
    for item in items:
        if item["id"] in merged and ("show_if" not in item or holds(item["show_if"], kept)):
            kept[item["id"]] = merged[item["id"]]
    return acceptable, kept


def as_server_reads(body):
    return MultiDict(parse_qsl(body, keep_blank_values=True, errors="werkzeug.url_quote"))


# --- one started session, every page reached --------------------------------------------------------

FILL = {"baseline": [{"feel_overall": "6", "activity_level": "3"},
                     {"has_allergies": "yes", "allergies_details": "Penicillin: a rash"},
                     {"last_transfusion": "2026-01-15", "evening_time": "19"}],
        "post-infusion": [{"temperature": "37.2", "temperature_route": "2", "chills": "yes", "chills_severity": "2"},
                          dict.fromkeys(["breathing", "throat_swelling", "chest_heart", "fainting"], "0"),
                          dict.fromkeys(["bleeding", "confusion", "vision"], "0"),
                          {"rash": "yes", "rash_severity": "1", "allergy_signs": "0", "cough": "no"},
                          {"headache": "no", "nausea": "yes", "nausea_severity": "3", "anything_else": "tired"}]}


@pytest.fixture(params=["baseline", "post-infusion"])
def started(request, app, clock, make_participant):
    """An English adult's session on one questionnaire, with every page answered once."""
    instrument_id = request.param
    make_participant("P-FUZZ", start=START, lang="en", phone="+8613800138009")
    clock.now = OPEN_AT[instrument_id]
    with app.app_context():
        a = db.session.scalar(select(Assignment).where(Assignment.instrument_id == instrument_id)
                              .order_by(Assignment.opens_at))
        assert a.opens_at <= clock.now < a.closes_at
        token = ops.new_link(db.session, a.id, clock.now)
        db.session.commit()
        assignment_id = a.id
    client = app.test_client()
    assert client.post(f"/q/{token}").status_code == 303
    for index, data in enumerate(FILL[instrument_id]):
        response = client.post("/q/answer", data={"s": str(index), **data})
        assert response.status_code == 303, response.get_data(as_text=True)
    instrument = app.extensions["pro_instruments"][instrument_id]
    return client, instrument, assignment_id


def nul_in_text(instrument):
    """A right answer to every question of the page with free text, and a U+0000 in that text."""
    index, item = next((i, item) for i, section in enumerate(instrument.sections) for item in section.items
                       if item.type == "text")
    answers = {**FILL[instrument.id][index], item.id: "rash\x00 after\x00"}
    return [("s", str(index)), *answers.items()]


def draft_state(app, assignment_id):
    with app.app_context():
        draft = db.session.get(ResponseDraft, assignment_id)
        responses = db.session.scalar(select(func.count()).select_from(Response))
        return draft.answers, draft.section, draft.updated_at, responses


def restore(app, assignment_id, answers, section):
    with app.app_context():
        draft = db.session.get(ResponseDraft, assignment_id)
        draft.answers, draft.section = answers, section
        db.session.commit()


def test_malformed_answers_are_refused_and_change_nothing(app, started):
    client, instrument, assignment_id = started
    n = len(instrument.sections)
    before = draft_state(app, assignment_id)
    assert before[1] == n and before[3] == 0
    seen = {"accepted": 0, "refused": 0, "bad section": 0}

    # The app and session fixtures are created once for all examples on purpose: starting a
    # session costs an enrolment and a dozen requests. Each example leaves the draft as it found
    # it (an accepted form is undone by restoring the draft), so the examples stay independent.
    @settings(max_examples=150, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(pairs=submissions(instrument))
    @example(pairs=nul_in_text(instrument))
    @example(pairs=[("s", "0"), *FILL[instrument.id][0].items()])
    def post(pairs):
        body = urlencode(pairs)
        response = client.post("/q/answer", data=body, content_type="application/x-www-form-urlencoded")
        page = response.get_data(as_text=True)
        after = draft_state(app, assignment_id)
        assert response.status_code != 500, page
        if len(body) > app.config["MAX_CONTENT_LENGTH"]:
            assert response.status_code == 413 and after == before
            return
        form = as_server_reads(body)
        try:
            index = int(form.get("s"))
        except (TypeError, ValueError):
            index = None
        if index is None or not 0 <= index < n:
            assert response.status_code == 400, (response.status_code, form.get("s"))
            assert "Something did not fit" in page
            assert after == before
            seen["bad section"] += 1
            return
        acceptable, answers = expected(instrument.definition, index, form, before[0])
        if acceptable:
            assert response.status_code == 303, re.findall(r'class="error"[^>]*>([^<]*)', page)
            wanted = "/q/review" if index == n - 1 else f"/q/answer?s={index + 1}"
            # A red answer saved for the first time goes to the emergency advice first (alerts
            # are kept across examples, so a repeat goes straight on).
            assert response.headers["Location"] in (wanted, "/q/advice")
            assert after[0] == answers and after[1] == n and after[3] == 0
            restore(app, assignment_id, before[0], before[1])
            seen["accepted"] += 1
        else:
            assert response.status_code == 400, (response.status_code, response.headers.get("Location"))
            assert "Please check your answers" in page and 'class="error"' in page
            assert f'name="s" value="{index}"' in page
            assert after == before
            seen["refused"] += 1

    post()
    # The examples covered each outcome, so none of the branches above went untested.
    assert all(seen.values()), seen
    assert draft_state(app, assignment_id)[:2] == before[:2]
