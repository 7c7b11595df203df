"""Assignments, links, drafts and responses; callers own the transaction."""

import secrets
from collections import OrderedDict
from contextlib import suppress
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from pro_app.clock import to_local
from pro_app.db import insert_new
from pro_app.participants.models import ContactRole
from pro_app.questionnaires import answers as ans
from pro_app.questionnaires.instruments import dump, from_stored
from pro_app.questionnaires.models import (
    OPEN_ASSIGNMENT,
    Assignment,
    AssignmentState,
    InstrumentVersion,
    QuestionnaireLink,
    Response,
    ResponseDraft,
)
from pro_app.questionnaires.schedule import infusion_window, nudge_time, plan_assignments, respondents_for
from pro_app.reminders.operations import enqueue, message_row
from pro_app.reminders.texts import render
from pro_app.sms.models import Message, MessageState
from pro_app.tokens import lookup_hash, new_token
from pro_app.visits.models import OPEN_STATUSES, Visit, VisitKind, VisitStatus

#: Where the link goes in an invitation; the token is made when the text is sent.
LINK = "{link}"
#: Approved templates carry at most this much of a questionnaire's title.
TITLE_CHARACTERS = 35


def text_title(instruments, assignment, language):
    """Return how a text names an assignment's questionnaire: its title in the language, cut to what templates take."""
    instrument = instruments.get(assignment.instrument_id)
    title = instrument.title.get(language) if instrument is not None else None
    return (title or assignment.instrument_id)[:TITLE_CHARACTERS]


class AlreadySubmitted(Exception):
    """The assignment already has its response."""


class SubmittedMeanwhile(AlreadySubmitted):
    """Another request stored this assignment's response while this one was submitting it."""


def _respondents(participant):
    consenting = [c for c in participant.contacts if c.agreed_to_texts and c.receives_questionnaires]
    patient = next(((c.id, c.timezone) for c in consenting if c.role == ContactRole.PATIENT), None)
    caregivers = [(c.id, c.timezone) for c in consenting if c.role == ContactRole.CAREGIVER]
    return respondents_for(participant.age_group, patient, caregivers)


def _infusions(participant):
    return [(v.id, v.dose_number, v.local_start.date()) for v in participant.visits
            if v.kind == VisitKind.INFUSION and (v.is_open or v.status == VisitStatus.DONE)]


def plan_participant(session, participant, protocol, instruments, *, now, since=None):
    """Create the participant's assignments (windows closing after `since`, default now); flush."""
    def accepts(instrument_id, role):
        instrument = instruments.get(instrument_id)
        return instrument is not None and role in instrument.respondents

    planned = plan_assignments(protocol, start=participant.start_date, respondents=_respondents(participant),
                               infusions=_infusions(participant), accepts=accepts)
    rows = [{
        "participant_id": participant.id, "contact_id": p.contact_id, "respondent": p.respondent,
        "instrument_id": p.instrument, "occasion": p.occasion, "visit_id": p.visit_id,
        "opens_at": p.opens_at, "closes_at": p.closes_at, "state": AssignmentState.PENDING,
        "created_at": now, "updated_at": now,
    } for p in planned if p.closes_at > (since or now)]
    if rows:
        session.execute(insert_new(session, Assignment), rows)
    session.flush()
    queue_invitations(session, _assignments(session, participant.id), protocol, instruments, now=now)


def _assignments(session, participant_id):
    return session.scalars(select(Assignment).where(Assignment.participant_id == participant_id,
                                                    Assignment.state.in_(OPEN_ASSIGNMENT))).all()


def _not_given(session, assignments):
    """Return the ids of the visits, among these assignments', not (yet) recorded as given."""
    visit_ids = {a.visit_id for a in assignments if a.visit_id is not None}
    if not visit_ids:
        return set()
    return set(session.scalars(select(Visit.id).where(Visit.id.in_(visit_ids), Visit.status != VisitStatus.DONE)))


def queue_invitations(session, assignments, protocol, instruments, *, now, key_suffix=""):
    """Queue an invitation when each window opens and, the first time, a nudge before it closes.

    An after-infusion questionnaire is invited only once its infusion is recorded as given: marking
    the visit done queues it (see replan_for_visit), so a family is never asked about an infusion
    that did not happen.
    """
    nudge_before = timedelta(hours=protocol.nudge_before_close_hours)
    rows = []
    held = _not_given(session, assignments)
    visit_starts = _visit_starts(session, {a.participant_id for a in assignments if a.visit_id not in held})
    for a in assignments:
        if a.visit_id in held:
            continue
        contact, lang = a.contact, a.contact.language
        params = {"site": protocol.site_name[lang], "link": LINK, "title": text_title(instruments, a, lang),
                  "deadline": to_local(a.closes_at, contact.timezone).strftime("%m-%d %H:%M")}
        common = {"participant_id": a.participant_id, "contact_id": contact.id, "assignment_id": a.id,
                  "phone": contact.phone, "language": lang, "expires_at": a.closes_at, "now": now}
        rows.append(message_row(key=f"invite:a{a.id}{key_suffix}", template="questionnaire_invite",
                                body=render("questionnaire_invite", lang, **params),
                                due_at=max(a.opens_at, now), **common))
        nudge_at = nudge_time(opens_at=max(a.opens_at, now), closes_at=a.closes_at, before=nudge_before,
                              quiet=(contact.timezone, contact.quiet_start, contact.quiet_end),
                              visit_starts=visit_starts.get(a.participant_id, []), now=now)
        if not key_suffix and nudge_at is not None:
            rows.append(message_row(key=f"nudge:a{a.id}", template="questionnaire_nudge",
                                    body=render("questionnaire_nudge", lang, **params), due_at=nudge_at,
                                    **common))
    enqueue(session, rows)
    session.flush()


def _visit_starts(session, participant_ids):
    """Return the start of every open visit, per participant."""
    starts = {}
    if participant_ids:
        for participant_id, starts_at in session.execute(select(Visit.participant_id, Visit.starts_at).where(
                Visit.participant_id.in_(participant_ids), Visit.status.in_(OPEN_STATUSES))):
            starts.setdefault(participant_id, []).append(starts_at)
    return starts


def replan_for_visit(session, visit, protocol, instruments, now):
    """Move the after-infusion questionnaires of a changed infusion, invite once it is given, or withdraw them."""
    assignments = session.scalars(select(Assignment).where(
        Assignment.visit_id == visit.id, Assignment.state == AssignmentState.PENDING)).all()
    entries = {e.instrument: e for e in protocol.questionnaires if e.kind == "after_infusion"}
    for a in assignments:
        session.execute(update(Message).where(Message.assignment_id == a.id, Message.state == MessageState.PENDING)
                        .values(state=MessageState.CANCELLED, state_reason="visit changed", updated_at=now)
                        .execution_options(synchronize_session=False))
        entry = entries.get(a.instrument_id)
        if not (visit.is_open or visit.status == VisitStatus.DONE) or entry is None:
            a.state, a.updated_at = AssignmentState.SUPERSEDED, now  # cancelled or missed: nothing to ask
            continue
        a.opens_at, a.closes_at = infusion_window(entry, visit.local_start.date(), a.contact.timezone)
        a.updated_at = now
    session.flush()
    live = [a for a in assignments if a.state == AssignmentState.PENDING and a.closes_at > now]
    queue_invitations(session, live, protocol, instruments, now=now, key_suffix=f"-r{visit.revision}")


def expire_windows(session, now):
    """Close assignments whose window has passed (no answers are taken after it); return their ids.

    An after-infusion questionnaire whose infusion was never recorded as given is withdrawn
    (superseded) instead: it was never asked, so it is not a missed questionnaire.
    """
    given = select(Visit.id).where(Visit.status == VisitStatus.DONE)
    session.execute(
        update(Assignment)
        .where(Assignment.state == AssignmentState.PENDING, Assignment.closes_at <= now,
               Assignment.visit_id.is_not(None), Assignment.visit_id.not_in(given))
        .values(state=AssignmentState.SUPERSEDED, updated_at=now)
        .execution_options(synchronize_session=False))
    return session.scalars(
        update(Assignment)
        .where(Assignment.state.in_(OPEN_ASSIGNMENT), Assignment.closes_at <= now)
        .values(state=AssignmentState.EXPIRED, updated_at=now)
        .returning(Assignment.id)
        .execution_options(synchronize_session=False)
    ).all()


def new_link(session, assignment_id, now):
    """Make a fresh link token for an assignment; only its hash is stored."""
    token, token_hash = new_token()
    session.add(QuestionnaireLink(assignment_id=assignment_id, token_hash=token_hash, created_at=now))
    return token


def find_link(session, token):
    """Return the link for a token, or None."""
    token_hash = lookup_hash(token)
    return token_hash and session.scalar(select(QuestionnaireLink).where(QuestionnaireLink.token_hash == token_hash))


def resend(session, assignment, protocol, instruments, *, now):
    """Supersede the assignment's links and text the respondent a new one."""
    session.execute(update(QuestionnaireLink).where(QuestionnaireLink.assignment_id == assignment.id,
                                                    QuestionnaireLink.superseded_at.is_(None))
                    .values(superseded_at=now).execution_options(synchronize_session=False))
    # An invitation still held (e.g. by quiet hours) would make a second working link when it goes.
    session.execute(update(Message).where(Message.assignment_id == assignment.id,
                                          Message.template.in_(("questionnaire_invite", "questionnaire_invites")),
                                          Message.state == MessageState.PENDING)
                    .values(state=MessageState.CANCELLED, state_reason="new link sent", updated_at=now)
                    .execution_options(synchronize_session=False))
    queue_invitations(session, [assignment], protocol, instruments, now=now,
                      key_suffix=f"-resend{int(now.timestamp())}")


def version_row(session, instrument, now):
    """Return the stored version of an instrument, storing it the first time it is used."""
    session.execute(insert_new(session, InstrumentVersion, ["version_hash"]).values(
        instrument_id=instrument.id, version_hash=instrument.version, definition=dump(instrument),
        created_at=now))
    return session.scalar(select(InstrumentVersion).where(InstrumentVersion.version_hash == instrument.version))


def open_draft(session, assignment, instrument, now):
    """Return the assignment's draft, starting one on the current version if there is none."""
    draft = session.get(ResponseDraft, assignment.id)
    if draft is None:
        version = version_row(session, instrument, now)
        # A double tap on Start runs this twice at once: the second insert does nothing and
        # both requests go on with the one draft.
        session.execute(insert_new(session, ResponseDraft, ["assignment_id"]).values(
            assignment_id=assignment.id, version_id=version.id, answers={}, section=0,
            submit_key=secrets.token_hex(16), started_at=now, updated_at=now))
        draft = session.get(ResponseDraft, assignment.id, populate_existing=True)
        if assignment.state == AssignmentState.PENDING:
            assignment.state, assignment.updated_at = AssignmentState.IN_PROGRESS, now
        session.flush()
    return draft


#: How many stored instrument versions each app keeps built; a study has a handful.
BUILT_VERSIONS = 64


def draft_instrument(draft):
    """Return the instrument version a draft is being answered on."""
    return version_instrument(draft.version)


def version_instrument(version):
    """Return a stored instrument version, built once per app (its definition is read only then)."""
    # A version's definition never changes under its hash, and rebuilding it (and loading its
    # JSON) on every page was most of a page's cost: keep the built ones, per app, least
    # recently used dropped first. Per app, because tests make many databases in one process.
    built = current_app.extensions.setdefault("pro_built_versions", OrderedDict())
    version_hash = version.version_hash
    instrument = built.get(version_hash)
    if instrument is None:
        instrument = built[version_hash] = from_stored(version.definition, version_hash)
        while len(built) > BUILT_VERSIONS:
            built.popitem(last=False)
    else:
        with suppress(KeyError):  # another thread dropped it meanwhile
            built.move_to_end(version_hash)
    return instrument


def save_section(session, draft, instrument, index, form, now):
    """Store one section's answers; return errors ({item id: message}) or {}."""
    section = instrument.sections[index]
    merged, errors = ans.read_section(section, form, draft.answers)
    if errors:
        return errors
    draft.answers = ans.prune(instrument, merged)
    draft.section = max(draft.section, index + 1)
    draft.updated_at = now
    session.flush()
    return {}


def submit(session, assignment, draft, instrument, submit_key, now):
    """Store the response once; SubmittedMeanwhile when it is already stored."""
    existing = session.scalar(select(Response.id).where(Response.assignment_id == assignment.id))
    if existing is not None:
        raise SubmittedMeanwhile()
    if submit_key != draft.submit_key:
        raise AlreadySubmitted()
    answers = ans.prune(instrument, draft.answers)
    response = Response(
        assignment_id=assignment.id, participant_id=assignment.participant_id, contact_id=assignment.contact_id,
        version_id=draft.version_id, instrument_id=instrument.id, respondent=assignment.respondent,
        proxy=assignment.proxy, answers=answers, scores=ans.scores(instrument, answers),
        started_at=draft.started_at, submitted_at=now, submit_key=draft.submit_key,
    )
    try:
        # A double tap sends the form twice at once; the response's unique assignment decides.
        with session.begin_nested():
            session.add(response)
            session.flush()
    except IntegrityError:
        raise SubmittedMeanwhile() from None
    assignment.state, assignment.completed_at, assignment.updated_at = AssignmentState.COMPLETED, now, now
    session.delete(draft)
    session.flush()
    return response
