"""GET /staff/overview: the study at a glance, with server-rendered bar charts."""

from datetime import time, timedelta

from flask import Blueprint, render_template
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from pro_app.alerts.models import Alert
from pro_app.clock import local_to_utc, to_local, utcnow
from pro_app.db import db
from pro_app.exports.compliance import ALL, compliance_rows
from pro_app.exports.filters import Filters
from pro_app.overview.figures import AGE_BANDS, AlertTimes, bar_widths, open_by_age, response_times
from pro_app.participants.models import Participant
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.staff.auth import staff_required
from pro_app.visits.models import Visit

bp = Blueprint("overview", __name__, url_prefix="/staff")
WINDOW_DAYS = 30
AGE_LABELS = {"under_1h": _l("under 1 h"), "1h_24h": _l("1–24 h"), "1d_3d": _l("1–3 days"),
              "over_3d": _l("over 3 days")}
VISIT_KINDS = {"infusion": _l("Infusion"), "marrow": _l("Marrow aspirate"), "other": _l("Other visit")}


def study_week(now, tz):
    """Return (Monday 00:00, next Monday 00:00) of the study zone's current week, as UTC instants."""
    today = to_local(now, tz).date()
    monday = today - timedelta(days=today.weekday())
    return local_to_utc(monday, time(0, 0), tz), local_to_utc(monday + timedelta(days=7), time(0, 0), tz)


@bp.get("/overview")
@staff_required("nurse", "investigator", "admin")
def index():
    now, tz = utcnow(), current_protocol().timezone
    enrolment = db.session.execute(select(Participant.status, func.count()).group_by(Participant.status)
                                   .order_by(Participant.status)).all()
    week_start, week_end = study_week(now, tz)
    visits = db.session.execute(select(Visit.kind, Visit.status, func.count())
                                .where(Visit.starts_at >= week_start, Visit.starts_at < week_end)
                                .group_by(Visit.kind, Visit.status).order_by(Visit.kind, Visit.status)).all()
    since = now - timedelta(days=WINDOW_DAYS)
    alerts = [AlertTimes(*row) for row in db.session.execute(
        select(Alert.severity, Alert.opened_at, Alert.acknowledged_at, Alert.resolved_at)
        .where((Alert.opened_at >= since) | Alert.resolved_at.is_(None)))]
    completion = compliance_rows(db.session, Filters(), now)
    ages = open_by_age(alerts, now)
    totals = [r for r in completion if r["occasion"] == ALL]
    return render_template(
        "overview/index.html", now=now, enrolment=enrolment, enrolment_bars=bar_widths([n for _s, n in enrolment]),
        visits=visits, week=(week_start, week_end - timedelta(seconds=1)), timings=response_times(alerts, now),
        ages=ages, age_bands=[key for _bound, key in AGE_BANDS], window_days=WINDOW_DAYS,
        totals=totals, points=[r for r in completion if r["occasion"] != ALL], instruments=current_instruments(),
        age_bars=bar_widths([n for counts in ages.values() for n in counts.values()]),
        age_labels=AGE_LABELS, visit_kinds=VISIT_KINDS, timedelta_minutes=lambda m: timedelta(minutes=m))
