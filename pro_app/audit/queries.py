"""Finding audit events: by who, what, participant and a date range in the study zone, a page at a time."""

from dataclasses import dataclass
from datetime import date, time, timedelta

from sqlalchemy import func, or_, select

from pro_app.audit.models import AuditEvent
from pro_app.clock import local_to_utc
from pro_app.exports.records import BATCH
from pro_app.participants.models import Participant

#: The kinds of change a reader filters by: the first part of an event's action.
FAMILIES = ("alert", "participant", "contact", "visit", "questionnaire", "reply", "thread", "phone", "consent",
            "export", "oncall", "staff", "sms")


@dataclass(frozen=True)
class AuditFilter:
    who: str = ""          # a staff email, "system" or "demo"
    what: str = ""         # a family ("alert") or one action ("alert.resolved")
    participant_id: int | None = None
    since: date | None = None   # first local day, inclusive
    until: date | None = None   # last local day, inclusive
    timezone: str = "Asia/Shanghai"

    def where(self):
        """Return the SQL conditions of this filter."""
        conditions = []
        if self.who:
            conditions.append(AuditEvent.actor.in_([self.who, f"staff:{self.who}"]))
        if self.what:
            conditions.append(or_(AuditEvent.action == self.what, AuditEvent.action.startswith(self.what + ".",
                                                                                                 autoescape=True)))
        if self.participant_id is not None:
            conditions.append(AuditEvent.participant_id == self.participant_id)
        if self.since:
            conditions.append(AuditEvent.at >= local_to_utc(self.since, time(0, 0), self.timezone))
        if self.until:
            conditions.append(AuditEvent.at < local_to_utc(self.until + timedelta(days=1), time(0, 0), self.timezone))
        return conditions


def find_events(session, audit_filter, *, page=1, size=50):
    """Return (events of one page, newest first, total matching) for a filter."""
    conditions = audit_filter.where()
    total = session.scalar(select(func.count()).select_from(AuditEvent).where(*conditions))
    events = session.scalars(select(AuditEvent).where(*conditions)
                             .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                             .limit(size).offset((page - 1) * size)).all()
    return events, total


def all_events(session, audit_filter, limit=200_000):
    """Yield (event, study ID) for every event a filter matches, newest first (for the CSV)."""
    stmt = (select(AuditEvent, Participant.study_id)
            .outerjoin(Participant, Participant.id == AuditEvent.participant_id)
            .where(*audit_filter.where()).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
            .execution_options(yield_per=BATCH))
    yield from session.execute(stmt)
