"""The participant timeline: chart geometry (pure) and the page (events in order, SVG charts, QoL drops)."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from pro_app import alerts
from pro_app.alerts.operations import assess_response
from pro_app.alerts.timeline import (
    QOL_DROP,
    Event,
    arrow,
    chart_points,
    date_ticks,
    merge_events,
    polyline_points,
    qol_summary,
    rule_wording,
    severity_value,
    symptom_chart,
    symptoms,
    value_ticks,
)
from pro_app.db import db
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.instruments import check_file
from pro_app.questionnaires.models import Assignment
from pro_app.sms.models import Message, MessageState

FOLDER = Path(__file__).resolve().parent.parent / "questionnaires"
T0 = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)


def _shipped(instrument_id):
    instrument, errors = check_file(FOLDER / f"{instrument_id}.yaml")
    assert not errors, errors
    return instrument


SYMPTOMS = _shipped("symptom-check")
QOL = _shipped("quality-of-life")
FREQUENCIES = [freq for _sev, freq in symptoms(SYMPTOMS)]
NO_RED_FLAGS = {"breathing": False, "throat_swelling": False, "chest_heart": False, "fainting": False,
                "bleeding": False, "confusion": False, "vision": False}


def symptom_answers(**severity):
    """Symptom-check answers: every symptom absent except those given as name=severity (1-4)."""
    answers = {freq: 0 for freq in FREQUENCIES} | NO_RED_FLAGS
    for name, value in severity.items():
        answers[f"{name}_frequency"] = 2
        answers[f"{name}_severity"] = value
    return answers


def qol_answers(everyday, overall):
    """Quality-of-life answers: the four everyday items at one level, feelings and friends in the middle."""
    answers = {i: everyday for i in ("walking", "active_play", "self_care", "up_and_about")}
    answers |= {i: 2 for i in ("worried", "low_mood", "irritable", "good_mood")}
    answers |= {i: 3 for i in ("school_work", "friends", "enjoyment", "support")}
    return answers | {"overall_life": overall}


# -- Geometry -------------------------------------------------------------------------------------------

instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
readings = st.lists(st.tuples(instants, st.floats(min_value=-50, max_value=50, allow_nan=False)), max_size=60)


@given(readings, st.integers(min_value=1, max_value=2000), st.integers(min_value=1, max_value=600))
def test_points_stay_inside_the_box_and_dates_map_monotonically(series, width, height):
    series = sorted(series)
    start, end = (series[0][0], series[-1][0]) if series else (T0, T0)
    points = chart_points(series, width, height, start, end)
    assert len(points) == len(series)
    assert all(0 <= x <= width and 0 <= y <= height for x, y in points)
    xs = [x for x, _y in points]
    assert xs == sorted(xs)
    for (_at, value), (_x, y) in zip(series, points, strict=True):
        if 0 <= value <= 4:
            assert y == pytest.approx((4 - value) / 4 * height, abs=0.06)


def test_empty_series_has_no_points():
    assert chart_points([], 300, 80, T0, T0) == []
    assert polyline_points([]) == ""


def test_a_single_point_sits_in_the_middle():
    assert chart_points([(T0, 2)], 300, 80, T0, T0) == [(150.0, 40.0)]


def test_first_and_last_dates_span_the_width_and_values_span_the_height():
    series = [(T0, 0), (T0 + timedelta(days=7), 4), (T0 + timedelta(days=14), 2)]
    assert chart_points(series, 300, 80, T0, T0 + timedelta(days=14)) == [(0, 80), (150, 0), (300, 40)]


def test_values_and_dates_outside_the_axes_are_clamped():
    end = T0 + timedelta(days=1)
    points = chart_points([(T0 - timedelta(days=3), -2), (end + timedelta(days=3), 9)], 300, 80, T0, end)
    assert points == [(0, 80), (300, 0)]
    assert chart_points([(T0, 250)], 100, 50, T0, end, low=0, high=100) == [(0, 0)]


def test_polyline_points_are_written_for_svg():
    assert polyline_points([(0, 80), (150.25, 40), (300, 0)]) == "0.0,80.0 150.2,40.0 300.0,0.0"


def test_value_ticks_run_from_zero_at_the_bottom_to_four_at_the_top():
    assert value_ticks(80) == [(0, 80), (1, 60), (2, 40), (3, 20), (4, 0)]


@given(instants, st.integers(min_value=0, max_value=3 * 365 * 24), st.sampled_from(
    ["Asia/Shanghai", "America/New_York", "Europe/London", "Pacific/Chatham"]))
def test_date_ticks_are_few_ordered_and_on_the_axis(start, hours, tz):
    end = start + timedelta(hours=hours)
    ticks = date_ticks(start, end, 270, tz)
    assert 1 <= len(ticks) <= 6
    xs = [x for _label, x in ticks]
    assert xs == sorted(xs) and all(0 <= x <= 270 for x in xs)
    assert len({label for label, _x in ticks}) == len(ticks)


def test_date_ticks_fall_on_local_midnights():
    start = datetime(2026, 3, 1, 16, 0, tzinfo=UTC)  # 03-02 00:00 in Shanghai
    ticks = date_ticks(start, start + timedelta(days=28), 280, "Asia/Shanghai")
    assert ticks[0] == ("03-02", 0.0)
    assert [label for label, _x in ticks] == ["03-02", "03-09", "03-16", "03-23", "03-30"]


# -- Symptom chart and QoL summary ----------------------------------------------------------------------

def test_severity_is_the_answer_or_zero_when_the_symptom_never_happened():
    assert severity_value({"pain_frequency": 2, "pain_severity": 3}, "pain_severity", "pain_frequency") == 3
    assert severity_value({"pain_frequency": 0}, "pain_severity", "pain_frequency") == 0
    assert severity_value({}, "pain_severity", "pain_frequency") is None
    assert severity_value({"pain_frequency": False}, "pain_severity", "pain_frequency") is None


def _response(rid, at, answers=None, scores=None, contact=1):
    return SimpleNamespace(id=rid, contact_id=contact, submitted_at=at, answers=answers or {}, scores=scores or {},
                           proxy=False)


def test_symptom_chart_draws_a_line_per_respondent_and_alerts_on_their_points():
    responses = [
        _response(1, T0, symptom_answers(pain=1)),
        _response(2, T0 + timedelta(days=7), symptom_answers()),
        _response(3, T0 + timedelta(days=14), symptom_answers(pain=3)),
        _response(4, T0 + timedelta(days=14, hours=1), symptom_answers(pain=2), contact=2),
    ]
    fired = [SimpleNamespace(at=T0 + timedelta(days=14), severity="amber", rule="symptom-check:pain_severe",
                             response_id=3, alert_id=9),
             SimpleNamespace(at=T0 + timedelta(days=20), severity="red", rule="missed-questionnaires",
                             response_id=None, alert_id=10)]
    chart = symptom_chart(responses, fired, SYMPTOMS, "Asia/Shanghai")
    assert [p["item"] for p in chart["panels"]][:2] == ["tired_severity", "appetite_severity"]
    pain = next(p for p in chart["panels"] if p["item"] == "pain_severity")
    assert [line["count"] for line in pain["lines"]] == [3, 1]
    width = chart["panel"].width
    (x1, y1), (x2, y2), (x3, y3) = pain["lines"][0]["coords"]
    assert x1 == 0 and x1 < x2 < x3 < width  # the alert 6 days later stretches the time axis
    assert (y1, y2, y3) == (60, 80, 20)
    assert pain["latest"] == 2 and pain["highest"] == 3
    assert [(d["x"], d["y"], d["severity"]) for d in pain["dots"]] == [(x3, y3, "amber")]
    assert [d["severity"] for d in chart["alerts"]] == ["amber", "red"]
    assert chart["alerts"][-1]["x"] == chart["strip"].width
    tired = chart["panels"][0]
    assert [line["count"] for line in tired["lines"]] == [3, 1] and tired["highest"] == 0


def test_no_symptom_answers_means_no_chart():
    assert symptom_chart([], [], SYMPTOMS, "Asia/Shanghai") is None


def test_qol_compares_the_latest_score_with_the_first():
    responses = [
        _response(1, T0, scores={"physical": 100.0, "emotional": 50.0, "social": 66.7, "global": 80.0}),
        _response(2, T0 + timedelta(days=28), scores={"physical": 88.9, "emotional": None, "social": 70.0,
                                                      "global": 75.0}),
        _response(3, T0 + timedelta(days=56), scores={"physical": 66.7, "emotional": 60.0, "social": 57.0,
                                                      "global": 70.0}),
        _response(4, T0 + timedelta(days=3), scores={"physical": 50.0}, contact=2),
    ]
    (contact, rows), (other, other_rows) = qol_summary(responses, QOL.scores)
    assert (contact, other) == (1, 2)
    by_id = {row["score"].id: row for row in rows}
    assert (by_id["physical"]["baseline"], by_id["physical"]["latest"], by_id["physical"]["change"]) == \
        (100.0, 66.7, -33.3)
    assert by_id["physical"]["drop"] and by_id["physical"]["points"].count(",") == 3
    assert by_id["global"]["change"] == -10 and by_id["global"]["drop"]  # exactly 10 counts
    assert by_id["social"]["change"] == pytest.approx(-9.7) and not by_id["social"]["drop"]
    assert by_id["emotional"]["count"] == 2 and not by_id["emotional"]["drop"]
    single = {row["score"].id: row for row in other_rows}
    assert single["physical"]["change"] is None and not single["physical"]["drop"]
    assert single["global"]["count"] == 0 and single["global"]["points"] == ""
    assert (arrow(-33.3), arrow(5), arrow(0), arrow(None)) == ("↓", "↑", "→", "→")
    assert QOL_DROP == 10


def test_events_merge_newest_first_in_pages():
    visits = [Event(T0 + timedelta(days=d), "visit", SimpleNamespace(id=d)) for d in (0, 7)]
    texts = [Event(T0 + timedelta(days=d), "message", SimpleNamespace(id=d)) for d in (1, 7)]
    alerted = [Event(T0 + timedelta(days=7), "alert", SimpleNamespace(id=1))]
    page, older = merge_events(visits, texts, alerted, size=3)
    assert [(e.at.day - T0.day, e.kind) for e in page] == [(7, "alert"), (7, "message"), (7, "visit")]
    assert older
    page, older = merge_events(visits, texts, alerted, page=2, size=3)
    assert [e.kind for e in page] == ["message", "visit"] and not older


def test_rules_are_named_in_the_page_language():
    instruments = {"symptom-check": SYMPTOMS}
    assert rule_wording("symptom-check:pain_severe", instruments, "en") == "Severe or very severe pain"
    assert rule_wording("symptom-check:pain_severe", instruments, "zh-CN") == "疼痛严重或非常严重"
    assert rule_wording("missed-questionnaires", instruments, "en") == "missed-questionnaires"


# -- The page -------------------------------------------------------------------------------------------

def _answer(app, assignment_id, answers, at, assess=False):
    """Submit answers to an assignment at a given instant; optionally raise its alerts a minute later."""
    with app.app_context():
        assignment = db.session.get(Assignment, assignment_id)
        instrument = current_instruments()[assignment.instrument_id]
        draft = ops.open_draft(db.session, assignment, instrument, at)
        draft.answers = answers
        response = ops.submit(db.session, assignment, draft, instrument, draft.submit_key, at)
        if assess:
            assess_response(db.session, response, instrument, now=at + timedelta(minutes=1), **alerts.context())
        db.session.commit()
        return response.id


def _assignments(app, instrument_id, respondent=None):
    with app.app_context():
        stmt = select(Assignment.id).where(Assignment.instrument_id == instrument_id)
        if respondent:
            stmt = stmt.where(Assignment.respondent == respondent)
        return db.session.scalars(stmt.order_by(Assignment.opens_at, Assignment.id)).all()


@pytest.fixture
def history(app, make_participant):
    """An adult 60 days in: the first infusion, a delivered text, three symptom checks, two QoL forms."""
    now = datetime.now(UTC)
    start = (now - timedelta(days=60)).date()
    make_participant("P-1", start=start, now=now - timedelta(days=70))
    day1 = datetime.combine(start, datetime.min.time(), tzinfo=UTC)
    with app.app_context():
        message = db.session.scalars(select(Message).order_by(Message.id)).first()
        message.state, message.sent_at = MessageState.DELIVERED, day1 + timedelta(days=1)
        message.delivered_at = message.sent_at
        body = message.body
        db.session.commit()
    checks = _assignments(app, "symptom-check")
    ids = [
        _answer(app, checks[0], symptom_answers(tired=2), day1 + timedelta(days=3)),
        _answer(app, checks[1], symptom_answers(), day1 + timedelta(days=10)),
        _answer(app, checks[2], symptom_answers(tired=3, pain=1), day1 + timedelta(days=17), assess=True),
    ]
    qol = _assignments(app, "quality-of-life")
    _answer(app, qol[0], qol_answers(4, 8), day1 - timedelta(days=2))
    _answer(app, qol[1], qol_answers(3, 7), day1 + timedelta(days=27))
    return ids, body


def _panel(page, name):
    figure = next(f for f in page.split('<figure class="chart-panel">')[1:] if f"<figcaption>{name}</figcaption>" in f)
    return figure.split("</figure>")[0]


def test_the_timeline_lists_visits_texts_answers_and_alerts_newest_first(client, login, history):
    login("nurse")
    response = client.get("/staff/participants/P-1/timeline")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    events = page.split('<ol class="timeline">')[1].split("</ol>")[0]
    alert_at = events.index('class="event event-alert"')
    ids, body = history
    answers_at = events.index(f'href="/staff/responses/{ids[2]}"')
    text_at = events.index('class="event event-message"')
    visit_at = events.rindex('class="event event-visit"')
    assert alert_at < answers_at < text_at < visit_at
    assert "Severe or very severe tiredness" in events and re.search(r'href="/staff/alerts/\d+"', events)
    assert "Weekly symptom check" in events and "Infusion dose 1" in events and "delivered" in events
    assert body not in page and "+8613800138001" not in events  # no text bodies or numbers
    assert page.count('role="img"') >= 8 + 1 + 4  # eight symptoms, the alert strip, four QoL sparklines
    assert "<title" in page and "<desc" in page
    show = client.get("/staff/participants/P-1").get_data(as_text=True)
    assert 'href="/staff/participants/P-1/timeline"' in show


def test_the_symptom_chart_has_a_line_per_symptom_with_a_point_per_answer(client, login, history):
    login("nurse")
    page = client.get("/staff/participants/P-1/timeline").get_data(as_text=True)
    tired = _panel(page, "Tiredness")
    points = re.search(r'<polyline class="line line-0" points="([^"]+)"', tired).group(1).split()
    assert len(points) == 3
    ys = [float(p.split(",")[1]) for p in points]
    assert ys == [40.0, 80.0, 20.0]  # severities 2, 0 (never tired), 3 on a 0-4 axis 80 high
    assert 'class="dot dot-amber"' in tired  # the severe-tiredness alert on its point
    pain = _panel(page, "Pain")
    assert len(re.search(r'points="([^"]+)"', pain).group(1).split()) == 3
    assert ">0</text>" in tired and ">4</text>" in tired
    table = page.split('<div class="chart-data"')[1].split("</div>")[0]
    assert table.count("<tr>") == 4 and "<caption" in table


def test_quality_of_life_shows_baseline_latest_and_flags_a_drop(client, login, history):
    login("nurse")
    page = client.get("/staff/participants/P-1/timeline").get_data(as_text=True)
    qol = page.split('<table class="qol">')[1].split("</table>")[0]
    rows = {re.search(r'<th scope="row">([^<]+)</th>', r).group(1): r for r in qol.split("<tr")[2:]}
    physical, overall = rows["Everyday activities"], rows["Overall quality of life"]
    assert ">100<" in physical and ">66.7<" in physical and "-33.3" in physical and "↓" in physical
    assert physical.startswith(' class="qol-drop"') and "Down 10 points or more from baseline" in physical
    assert "-10" in overall and overall.startswith(' class="qol-drop"')  # a drop of exactly 10 counts
    assert not rows["Feelings"].startswith(' class="qol-drop"')
    assert qol.count('<svg class="spark"') == 4


def test_a_participant_with_no_answers_yet(client, login, make_participant):
    make_participant("P-2")
    login("nurse")
    response = client.get("/staff/participants/P-2/timeline")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count("No answers yet.") == 2 and "<polyline" not in page


def test_monitors_can_view_and_unknown_participants_are_404(client, login, make_participant):
    make_participant("P-3")
    login("monitor")
    assert client.get("/staff/participants/P-3/timeline").status_code == 200
    assert client.get("/staff/participants/NOPE/timeline").status_code == 404


def test_the_page_needs_a_login(client, make_participant):
    make_participant("P-4")
    assert client.get("/staff/participants/P-4/timeline").status_code == 302


def test_many_responses_render(app, client, login, make_participant):
    """A teenager and a parent with 100 answered questionnaires (no timing assertion: it just works)."""
    now = datetime.now(UTC)
    make_participant("P-5", age="15", caregivers=[{"phone": "+8613800138012", "name": "Mother"}],
                     start=(now - timedelta(days=400)).date(), now=now - timedelta(days=410))
    todo = (_assignments(app, "symptom-check") + _assignments(app, "quality-of-life")
            + _assignments(app, "post-infusion"))[:100]
    assert len(todo) == 100
    with app.app_context():
        kinds = dict(db.session.execute(select(Assignment.id, Assignment.instrument_id)
                                        .where(Assignment.id.in_(todo))).all())
    for i, assignment_id in enumerate(todo):
        at = now - timedelta(days=380) + timedelta(days=3 * i)
        if kinds[assignment_id] == "symptom-check":
            answers = symptom_answers(tired=1 + i % 4, pain=1 + (i // 3) % 4) if i % 5 else symptom_answers()
        elif kinds[assignment_id] == "quality-of-life":
            answers = qol_answers(1 + i % 4, i % 11)
        else:
            answers = {"temperature": 36.8}
        _answer(app, assignment_id, answers, at)
    login("investigator", lang="zh-CN")
    response = client.get("/staff/participants/P-5/timeline")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert page.count('href="/staff/responses/') >= 100
    tired = page.split('<figure class="chart-panel">')[1]
    assert tired.count("<polyline") == 2  # the teenager and the parent
    assert page.count('<table class="qol">') == 2
    assert client.get("/staff/participants/P-5/timeline?page=2").status_code == 200
