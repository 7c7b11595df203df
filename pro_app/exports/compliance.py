"""Questionnaire compliance per instrument and time point, as trial reports give it.

A window is expected once it has closed, if the participant was still on study when it opened:
a participant who withdrew (or completed the study, or died) is not expected to answer windows
that opened afterwards. Received: an expected window with a submitted response. Missed: expected
and not received. Rate: received / expected. A window replaced by another (superseded, e.g. an
after-infusion check whose infusion moved) is not a window of its own.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from pro_app.audit.models import AuditEvent
from pro_app.clock import to_local
from pro_app.exports.records import BATCH, filtered, study_day
from pro_app.participants.models import Participant, ParticipantStatus
from pro_app.questionnaires.models import Assignment, AssignmentState, Response

COMPLIANCE_COLUMNS = ("instrument_id", "occasion", "respondent", "first_window_study_day", "expected", "received",
                      "missed", "rate_percent", "not_expected_off_study", "not_yet_due")
OFF_STUDY = (ParticipantStatus.WITHDRAWN, ParticipantStatus.COMPLETED, ParticipantStatus.DECEASED)
ALL = "all"


@dataclass(frozen=True)
class Window:
    """One questionnaire window of one respondent, with what compliance needs to know about it."""

    instrument: str
    occasion: str
    respondent: str
    opens_at: datetime
    closes_at: datetime
    answered: bool
    off_study_at: datetime | None = None
    study_day: int = 0


def compliance(windows, now):
    """Count expected, received and missed windows per instrument, time point and respondent (pure)."""
    counts = defaultdict(lambda: {"expected": 0, "received": 0, "not_expected_off_study": 0, "not_yet_due": 0,
                                  "first_window_study_day": None})
    for w in windows:
        for occasion in (w.occasion, ALL):
            c = counts[(w.instrument, occasion, w.respondent)]
            if occasion != ALL:
                day = c["first_window_study_day"]
                c["first_window_study_day"] = w.study_day if day is None else min(day, w.study_day)
            if w.off_study_at is not None and w.opens_at >= w.off_study_at:
                c["not_expected_off_study"] += 1
            elif w.closes_at > now:
                c["not_yet_due"] += 1
            else:
                c["expected"] += 1
                c["received"] += int(w.answered)
    rows = []
    for (instrument, occasion, respondent), c in counts.items():
        expected, received = c["expected"], c["received"]
        rows.append({
            "instrument_id": instrument, "occasion": occasion, "respondent": respondent,
            "first_window_study_day": c["first_window_study_day"], "expected": expected, "received": received,
            "missed": expected - received,
            "rate_percent": round(100 * received / expected, 1) if expected else None,
            "not_expected_off_study": c["not_expected_off_study"], "not_yet_due": c["not_yet_due"],
        })

    def order(row):
        total = row["occasion"] == ALL
        day = row["first_window_study_day"]
        return (row["instrument_id"], row["respondent"], total, day if day is not None else 0, row["occasion"])
    return sorted(rows, key=order)


def off_study_times(session):
    """Return {participant id: when they went off study} for those withdrawn, completed or deceased now."""
    status = dict(session.execute(select(Participant.id, Participant.status)
                                  .where(Participant.status.in_(OFF_STUDY))).all())
    off = {}
    events = session.execute(select(AuditEvent.participant_id, AuditEvent.at, AuditEvent.after)
                             .where(AuditEvent.action == "participant.status",
                                    AuditEvent.participant_id.in_(status))
                             .order_by(AuditEvent.at)) if status else []
    for pid, at, after in events:
        if (after or {}).get("status") == status[pid].value:
            off[pid] = at
    return off


def windows(session, filters):
    """Yield every questionnaire window of the study (superseded ones left out)."""
    off = off_study_times(session)
    stmt = (select(Assignment.participant_id, Assignment.instrument_id, Assignment.occasion, Assignment.respondent,
                   Assignment.opens_at, Assignment.closes_at, Response.id, Participant.start_date,
                   Participant.timezone)
            .join(Participant, Participant.id == Assignment.participant_id)
            .outerjoin(Response, Response.assignment_id == Assignment.id)
            .where(Assignment.state != AssignmentState.SUPERSEDED)
            .order_by(Assignment.id).execution_options(yield_per=BATCH))
    for pid, instrument, occasion, respondent, opens, closes, response_id, start, tz in session.execute(
            filtered(stmt, filters, Assignment.closes_at)):
        yield Window(instrument, occasion, respondent, opens, closes, response_id is not None, off.get(pid),
                     study_day(start, to_local(opens, tz).date()))


def compliance_rows(session, filters, now):
    """Return the compliance table of the study as of now."""
    return compliance(windows(session, filters), now)
