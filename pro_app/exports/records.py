"""Responses as the exports read them: one streamed query, instrument versions rebuilt once each."""

import heapq
import itertools
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import aliased

from pro_app.clock import to_local
from pro_app.participants.models import Contact, Participant
from pro_app.questionnaires.instruments import from_stored
from pro_app.questionnaires.models import Assignment, InstrumentVersion, Response, ResponseDraft
from pro_app.visits.models import Visit

#: Rows fetched per round trip; the server-side cursor keeps memory flat however large the study.
BATCH = 2000


@dataclass(frozen=True)
class ResponseRecord:
    """One submitted response (or an unfinished draft) with what an export row needs around it."""

    id: int
    study_id: str
    timezone: str
    start_date: date
    instrument_id: str
    version_id: int
    respondent: str
    contact_id: int
    contact_role: str
    occasion: str
    opens_at: datetime
    closes_at: datetime
    visit_starts_at: datetime | None
    answers: dict
    scores: dict
    started_at: datetime
    answered_at: datetime
    submitted_at: datetime | None
    unfinished: bool
    participant_id: int = 0

    @property
    def proxy(self):
        return self.respondent == "proxy"

    @property
    def key(self):
        """A stable identifier for the response: drafts are keyed by their assignment."""
        return f"d{self.id}" if self.unfinished else str(self.id)


def study_day(start, day):
    """Count days from day 1 (the start) as trials do: the day before day 1 is day -1, there is no day 0."""
    delta = (day - start).days
    return delta + 1 if delta >= 0 else delta


def local_iso(instant, tz):
    """Show a UTC instant as an ISO 8601 local time with its offset."""
    return to_local(instant, tz).isoformat() if instant else None


class Versions:
    """Instrument versions by id, each rebuilt from its stored definition once."""

    def __init__(self, session):
        self.session = session
        self._by_id = {}

    def get(self, version_id):
        if version_id not in self._by_id:
            row = self.session.get(InstrumentVersion, version_id)
            self._by_id[version_id] = from_stored(row.definition, row.version_hash)
        return self._by_id[version_id]

    def all(self):
        """Load every stored version (oldest first) and return them."""
        for row in self.session.scalars(select(InstrumentVersion).order_by(InstrumentVersion.id)):
            self._by_id.setdefault(row.id, from_stored(row.definition, row.version_hash))
        return [self._by_id[k] for k in sorted(self._by_id)]


def filtered(stmt, filters, at_column):
    """Narrow a statement joined to Participant to the export's participant and to rows at or after its date."""
    if filters.participant:
        stmt = stmt.where(Participant.study_id == filters.participant)
    if filters.since:
        stmt = stmt.where(at_column >= filters.since_utc)
    return stmt


def response_records(session, filters, by_subject=False):
    """Yield every submitted response (and, if asked, every unfinished draft), oldest first.

    By subject: ordered by participant (an integer, so the database's collation cannot disagree
    with the merge), drafts merged in; the ODM writer orders each participant's own records.
    """
    submitted = _submitted(session, filters, by_subject)
    if not filters.unfinished:
        return submitted
    drafts = _drafts(session, filters, by_subject)
    if by_subject:
        return heapq.merge(submitted, drafts, key=lambda r: r.participant_id)
    return itertools.chain(submitted, drafts)


def _submitted(session, filters, by_subject):
    visit = aliased(Visit)
    stmt = (
        select(Response.id, Participant.study_id, Participant.timezone, Participant.start_date,
               Response.instrument_id, Response.version_id, Response.respondent, Response.contact_id, Contact.role,
               Assignment.occasion, Assignment.opens_at, Assignment.closes_at, visit.starts_at,
               Response.answers, Response.scores, Response.started_at, Response.submitted_at, Participant.id)
        .join(Assignment, Assignment.id == Response.assignment_id)
        .join(Participant, Participant.id == Response.participant_id)
        .join(Contact, Contact.id == Response.contact_id)
        .outerjoin(visit, visit.id == Assignment.visit_id)
        .order_by(*((Participant.id,) if by_subject else ()), Response.submitted_at, Response.id)
        .execution_options(yield_per=BATCH)
    )
    for r in session.execute(filtered(stmt, filters, Response.submitted_at)):
        yield ResponseRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8].value, r[9], r[10], r[11],
                             r[12], r[13] or {}, r[14] or {}, r[15], r[16], r[16], False, r[17])


def _drafts(session, filters, by_subject):
    visit = aliased(Visit)
    stmt = (
        select(Assignment.id, Participant.study_id, Participant.timezone, Participant.start_date,
               Assignment.instrument_id, ResponseDraft.version_id, Assignment.respondent, Assignment.contact_id,
               Contact.role, Assignment.occasion, Assignment.opens_at, Assignment.closes_at, visit.starts_at,
               ResponseDraft.answers, ResponseDraft.started_at, ResponseDraft.updated_at, Participant.id)
        .join(Assignment, Assignment.id == ResponseDraft.assignment_id)
        .join(Participant, Participant.id == Assignment.participant_id)
        .join(Contact, Contact.id == Assignment.contact_id)
        .outerjoin(visit, visit.id == Assignment.visit_id)
        .order_by(*((Participant.id,) if by_subject else ()), ResponseDraft.updated_at, Assignment.id)
        .execution_options(yield_per=BATCH)
    )
    for r in session.execute(filtered(stmt, filters, ResponseDraft.updated_at)):
        if not r[13]:
            continue
        yield ResponseRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8].value, r[9], r[10], r[11],
                             r[12], r[13], {}, r[14], r[15], None, True, r[16])
