"""A participant's timeline: visits, texts, answers and alerts in one list, with symptom and QoL charts.

The chart geometry is pure functions (instants and values in, SVG coordinates out), so the page
draws its charts on the server as inline SVG, with no script and no chart library.
"""

import math
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import defer

from pro_app.alerts.models import Alert, AlertOccurrence
from pro_app.alerts.views import fired_rules
from pro_app.clock import local_to_utc, to_local, utcnow
from pro_app.db import db
from pro_app.participants.operations import get_participant_or_404
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires.models import Response
from pro_app.sms.models import Message, MessageState
from pro_app.staff.auth import staff_required
from pro_app.visits.models import Visit

bp = Blueprint("timeline", __name__, url_prefix="/staff/participants")

PAGE_SIZE = 200
MAX_PAGE = 20
SYMPTOM_INSTRUMENT = "symptom-check"
SEVERITY_SCORE = "symptom_severity"
QOL_INSTRUMENT = "quality-of-life"
SEVERITY = (0, 4)
#: A quality-of-life score this far below its baseline is highlighted (the alert rules use the same 10).
QOL_DROP = 10
_EPSILON = 1e-9  # scores are rounded floats: 65.0 - 75 must count as a drop of 10

#: Texts that left (or tried to leave) the outbox; pending, cancelled and suppressed ones are not events.
SENT_STATES = (MessageState.SENT, MessageState.DELIVERED, MessageState.UNDELIVERED, MessageState.FAILED,
               MessageState.UNKNOWN)
#: Ties at the same instant list in this order (newest first overall).
KIND_ORDER = {"alert": 0, "response": 1, "message": 2, "visit": 3}
#: Nice gaps between date ticks, in days.
DAY_STEPS = (1, 2, 7, 14, 28, 56, 91, 182, 364)

SYMPTOM_NAMES = {
    "tired_severity": _l("Tiredness"), "appetite_severity": _l("Loss of appetite"),
    "nausea_severity": _l("Nausea"), "vomiting_severity": _l("Vomiting"),
    "diarrhoea_severity": _l("Diarrhoea"), "mouth_sores_severity": _l("Mouth sores"),
    "pain_severity": _l("Pain"), "cough_severity": _l("Cough"),
}


@dataclass(frozen=True)
class Frame:
    """A chart's plot box and the margins around it for the axis labels."""

    width: float
    height: float
    left: float = 0
    top: float = 0
    right: float = 0
    bottom: float = 0

    @property
    def outer_width(self):
        return self.left + self.width + self.right

    @property
    def outer_height(self):
        return self.top + self.height + self.bottom


PANEL = Frame(width=270, height=80, left=20, top=8, right=10, bottom=22)
STRIP = Frame(width=270, height=16, left=20, top=8, right=10, bottom=22)  # same x axis as a panel
SPARK = Frame(width=110, height=28, left=4, top=4, right=4, bottom=4)


# -- Geometry -------------------------------------------------------------------------------------------

def _number(value):
    """Return value if it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _clamp(value, low, high):
    return min(max(value, low), high)


def x_of(at, start, end, width):
    """Place an instant across [0, width]: start at 0, end at width; a single instant in the middle."""
    span = (end - start).total_seconds()
    if span <= 0:
        return width / 2
    return _clamp((at - start).total_seconds() / span, 0.0, 1.0) * width


def y_of(value, height, low, high):
    """Place a value on [0, height], low at the bottom (SVG y grows downwards), clamped to the axis."""
    if high <= low:
        return height / 2
    return (high - _clamp(value, low, high)) / (high - low) * height


def chart_points(series, width, height, start, end, low=SEVERITY[0], high=SEVERITY[1]):
    """Map (instant, value) pairs into a width x height box: time left to right, value bottom to top."""
    return [(_clamp(round(x_of(at, start, end, width), 1), 0, width),
             _clamp(round(y_of(value, height, low, high), 1), 0, height))
            for at, value in series]


def polyline_points(points):
    """Write points as an SVG polyline's points attribute: 'x1,y1 x2,y2 ...'."""
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def value_ticks(height, low=SEVERITY[0], high=SEVERITY[1], step=1):
    """Return (value, y) for each tick on the value axis, bottom to top."""
    count = int(round((high - low) / step))
    return [(low + i * step, y_of(low + i * step, height, low, high)) for i in range(count + 1)]


def date_ticks(start, end, width, tz, most=6):
    """Return (label, x) ticks at local midnights a nice number of days apart, at most `most` of them."""
    first, last = to_local(start, tz).date(), to_local(end, tz).date()
    pattern = "%m-%d" if first.year == last.year else "%Y-%m-%d"
    if end <= start:
        return [(first.strftime(pattern), width / 2)]
    days = (last - first).days + 1
    step = next((s for s in DAY_STEPS if days <= s * most), math.ceil(days / most))
    day = first if local_to_utc(first, time(0), tz) >= start else first + timedelta(days=1)
    ticks = []
    while day <= last and len(ticks) < most:
        at = local_to_utc(day, time(0), tz)
        if at <= end:
            ticks.append((day.strftime(pattern), round(x_of(at, start, end, width), 1)))
        day += timedelta(days=step)
    return ticks or [(first.strftime(pattern), 0.0)]


# -- Symptom chart --------------------------------------------------------------------------------------

def symptoms(instrument):
    """Return (severity item, frequency item) per symptom: the items of the instrument's severity score."""
    score = next((s for s in instrument.scores if s.id == SEVERITY_SCORE), None)
    if score is None:
        return []
    pairs = []
    for item_id in score.items:
        item = instrument.item(item_id)
        pairs.append((item_id, item.show_if.item if item is not None and item.show_if else None))
    return pairs


def severity_value(answers, severity_item, frequency_item):
    """Return a symptom's severity (1-4), 0 when it never happened (so was not asked), else None."""
    value = _number(answers.get(severity_item))
    if value is not None:
        return value
    if frequency_item is not None and _number(answers.get(frequency_item)) == 0:
        return 0
    return None


def rule_items(instrument):
    """Return {alert rule: item id} for the instrument's alerts that watch one item."""
    found = {}
    for rule in instrument.alerts:
        if rule.when is not None:
            found[f"{instrument.id}:{rule.id}"] = rule.when.item
        elif rule.worsening and rule.worsening.get("items"):
            found[f"{instrument.id}:{rule.id}"] = rule.worsening["items"][0]
    return found


def symptom_chart(responses, occurrences, instrument, tz, panel=PANEL, strip=STRIP):
    """Lay out the symptom small multiples: one panel per symptom, one line per respondent, alert dots.

    `responses` have .id, .contact_id, .submitted_at and .answers (oldest first); `occurrences` have
    .at, .severity, .rule, .response_id and .alert_id. Returns None when there is nothing to draw.
    """
    pairs = symptoms(instrument)
    responses = sorted(responses, key=lambda r: (r.submitted_at, r.id))
    if not pairs or not responses:
        return None
    instants = [r.submitted_at for r in responses] + [o.at for o in occurrences]
    start, end = min(instants), max(instants)
    respondents = list(dict.fromkeys(r.contact_id for r in responses))
    watched = rule_items(instrument)
    rows = [(r, [severity_value(r.answers, sev, freq) for sev, freq in pairs]) for r in responses]
    panels = []
    for index, (item_id, _freq) in enumerate(pairs):
        lines, where = [], {}
        for contact_id in respondents:
            kept = [(r, values[index]) for r, values in rows
                    if r.contact_id == contact_id and values[index] is not None]
            points = chart_points([(r.submitted_at, v) for r, v in kept], panel.width, panel.height, start, end)
            where.update({r.id: p for (r, _v), p in zip(kept, points, strict=True)})
            if points:
                lines.append({"respondent": respondents.index(contact_id), "points": polyline_points(points),
                              "count": len(points), "coords": points})
        dots = [{"x": where[o.response_id][0], "y": where[o.response_id][1], "severity": o.severity, "at": o.at,
                 "rule": o.rule, "alert_id": o.alert_id}
                for o in occurrences if watched.get(o.rule) == item_id and o.response_id in where]
        values = [v[index] for _r, v in rows if v[index] is not None]
        panels.append({"item": item_id, "lines": lines, "dots": dots, "count": len(values),
                       "latest": values[-1] if values else None, "highest": max(values) if values else None})
    alert_dots = [{"x": round(x_of(o.at, start, end, strip.width), 1), "severity": o.severity, "at": o.at,
                   "rule": o.rule, "alert_id": o.alert_id}
                  for o in sorted(occurrences, key=lambda o: (o.severity == "red", o.at))]
    return {"start": start, "end": end, "panel": panel, "strip": strip, "panels": panels,
            "xticks": date_ticks(start, end, panel.width, tz), "yticks": value_ticks(panel.height),
            "alerts": alert_dots, "respondents": respondents, "items": [sev for sev, _f in pairs],
            "rows": rows}


# -- Quality of life ------------------------------------------------------------------------------------

def qol_summary(responses, scores, spark=SPARK):
    """Per respondent, each score's baseline (first answer), latest, change, drop flag and sparkline.

    `responses` have .contact_id, .submitted_at and .scores; returns [(contact id, [row, ...]), ...].
    """
    by_contact = {}
    for r in sorted(responses, key=lambda r: r.submitted_at):
        by_contact.setdefault(r.contact_id, []).append(r)
    summary = []
    for contact_id, answered in by_contact.items():
        rows = []
        for score in scores:
            series = [(r.submitted_at, _number(r.scores.get(score.id))) for r in answered]
            series = [(at, v) for at, v in series if v is not None]
            row = {"score": score, "count": len(series), "baseline": None, "latest": None, "change": None,
                   "drop": False, "points": "", "last": None, "baseline_at": None, "latest_at": None}
            if series:
                (first_at, baseline), (last_at, latest) = series[0], series[-1]
                low, high = (0, 100) if score.method == "linear" else (min(v for _a, v in series),
                                                                     max(v for _a, v in series))
                points = chart_points(series, spark.width, spark.height, first_at, last_at, low, high)
                change = round(latest - baseline, 1) if len(series) > 1 else None
                row.update(baseline=baseline, latest=latest, change=change, baseline_at=first_at, latest_at=last_at,
                           drop=bool(score.higher_is_better and change is not None and change <= -QOL_DROP + _EPSILON),
                           points=polyline_points(points), last=points[-1])
            rows.append(row)
        summary.append((contact_id, rows))
    return summary


def arrow(change):
    """Return the arrow for a change from baseline."""
    if change is None or abs(change) < _EPSILON:
        return "→"
    return "↑" if change > 0 else "↓"


# -- The list -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Event:
    at: datetime
    kind: str  # visit, message, response, alert
    item: object


def merge_events(*groups, page=1, size=PAGE_SIZE):
    """Merge event lists newest first; return (one page of events, whether older ones exist)."""
    events = sorted((e for group in groups for e in group),
                    key=lambda e: (e.at, -KIND_ORDER[e.kind], getattr(e.item, "id", 0)), reverse=True)
    skip = (page - 1) * size
    return events[skip:skip + size], len(events) > skip + size


def message_time(message):
    """Return when a text went (or was last tried)."""
    return message.sent_at or message.attempted_at or message.updated_at


def rule_wording(rule, instruments, lang):
    """Name an alert rule in the page language when its instrument labels it, else by its id."""
    instrument_id, _sep, alert_id = rule.partition(":")
    instrument = instruments.get(instrument_id)
    found = next((a for a in instrument.alerts if a.id == alert_id), None) if instrument else None
    return found.label[lang] if found is not None and found.label else rule


# -- The page -------------------------------------------------------------------------------------------

@bp.get("/<study_id>/timeline")
@staff_required()
def participant_timeline(study_id):
    p = get_participant_or_404(study_id)
    now = utcnow()
    page = _clamp(request.args.get("page", 1, type=int) or 1, 1, MAX_PAGE)
    fetch = PAGE_SIZE * page  # enough of each kind to fill this page after merging
    visits = db.session.scalars(
        select(Visit).where(Visit.participant_id == p.id, Visit.starts_at <= now)
        .order_by(Visit.starts_at.desc(), Visit.id.desc()).limit(fetch)).all()
    went = func.coalesce(Message.sent_at, Message.attempted_at, Message.updated_at)
    messages = db.session.scalars(
        select(Message).options(defer(Message.body))
        .where(Message.participant_id == p.id, Message.state.in_(SENT_STATES))
        .order_by(went.desc(), Message.id.desc()).limit(fetch)).all()
    responses = db.session.scalars(
        select(Response).options(defer(Response.answers))
        .where(Response.participant_id == p.id)
        .order_by(Response.submitted_at.desc(), Response.id.desc()).limit(fetch)).all()
    alerts = db.session.scalars(
        select(Alert).where(Alert.participant_id == p.id)
        .order_by(Alert.opened_at.desc(), Alert.id.desc()).limit(fetch)).all()
    events, older = merge_events(
        [Event(v.starts_at, "visit", v) for v in visits],
        [Event(message_time(m), "message", m) for m in messages],
        [Event(r.submitted_at, "response", r) for r in responses],
        [Event(a.opened_at, "alert", a) for a in alerts],
        page=page,
    )

    instruments = current_instruments()
    chart = qol = None
    symptom_instrument = instruments.get(SYMPTOM_INSTRUMENT)
    if symptom_instrument is not None:
        occurrences = db.session.execute(
            select(AlertOccurrence.at, AlertOccurrence.severity, AlertOccurrence.rule, AlertOccurrence.response_id,
                   AlertOccurrence.alert_id)
            .join(Alert, Alert.id == AlertOccurrence.alert_id).where(Alert.participant_id == p.id)
            .order_by(AlertOccurrence.at)).all()
        chart = symptom_chart(_answered(p.id, SYMPTOM_INSTRUMENT, answers=True), occurrences,
                              symptom_instrument, p.timezone)
    qol_instrument = instruments.get(QOL_INSTRUMENT)
    if qol_instrument is not None:
        qol = qol_summary(_answered(p.id, QOL_INSTRUMENT), qol_instrument.scores)
    return render_template(
        "alerts/timeline.html", p=p, events=events, page=page, older=older, page_size=PAGE_SIZE,
        contacts={c.id: c for c in p.contacts}, instruments=instruments, chart=chart, qol=qol,
        symptom_names=SYMPTOM_NAMES, rule_wording=rule_wording, arrow=arrow, spark=SPARK, qol_drop=QOL_DROP,
        fired=fired_rules([e.item for e in events if e.kind == "alert"]),
    )


def _answered(participant_id, instrument_id, answers=False):
    """Return a participant's responses to one instrument, oldest first."""
    stmt = (select(Response).where(Response.participant_id == participant_id,
                                   Response.instrument_id == instrument_id)
            .order_by(Response.submitted_at, Response.id))
    if not answers:
        stmt = stmt.options(defer(Response.answers))
    return db.session.scalars(stmt).all()
