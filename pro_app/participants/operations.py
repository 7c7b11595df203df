"""Enrolment: a participant, their contacts and their planned visits."""

from datetime import timedelta

from flask import abort
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from pro_app.audit.models import AuditEvent
from pro_app.audit.operations import record
from pro_app.consent.operations import record_enrolment_consents
from pro_app.db import db
from pro_app.participants.models import Contact, ContactRole, Participant
from pro_app.protocol.planner import plan_schedule
from pro_app.questionnaires.operations import plan_participant as plan_questionnaires
from pro_app.reminders.operations import plan_participant
from pro_app.visits.models import Visit, VisitKind


class DuplicateStudyId(ValueError):
    """The study ID is already enrolled."""


def study_id_taken(session, study_id):
    """Tell whether a study ID is already enrolled (case-insensitively)."""
    return session.scalar(
        select(Participant.id).where(func.lower(Participant.study_id) == study_id.lower())
    ) is not None


def just_enrolled_by(session, study_id, staff_id, now, within=timedelta(minutes=10)):
    """Return the participant this staff member enrolled under this study ID moments ago, or None.

    A double tap or a second tab sends the same enrolment twice; the second one then means the
    first, not a clash with someone else's participant.
    """
    if staff_id is None:
        return None
    return session.scalar(
        select(Participant).join(AuditEvent, AuditEvent.entity_id == Participant.id)
        .where(func.lower(Participant.study_id) == study_id.lower(), AuditEvent.entity == "participant",
               AuditEvent.action == "participant.enrolled", AuditEvent.staff_id == staff_id,
               AuditEvent.at >= now - within)
        .limit(1)
    )


def enrol(session, enrolment, protocol, instruments, *, actor, now, public_url):
    """Store a participant with contacts, the protocol's visits and their texts; flush only."""
    if study_id_taken(session, enrolment.study_id):
        raise DuplicateStudyId(enrolment.study_id)
    participant = Participant(
        study_id=enrolment.study_id,
        start_date=enrolment.start,
        age=enrolment.age,
        birth_date=enrolment.birth_date,
        language=enrolment.language,
        timezone=enrolment.timezone,
        created_at=now,
    )
    if enrolment.phone:
        participant.contacts.append(Contact(
            role=ContactRole.PATIENT, phone=enrolment.phone, language=enrolment.language,
            timezone=enrolment.timezone, consent_at=now, created_at=now,
            quiet_start=protocol.quiet_start, quiet_end=protocol.quiet_end,
        ))
    for cg in enrolment.caregivers:
        participant.contacts.append(Contact(
            role=ContactRole.CAREGIVER, name=cg.name, phone=cg.phone, language=cg.language,
            timezone=cg.timezone, consent_at=now, created_at=now,
            quiet_start=protocol.quiet_start, quiet_end=protocol.quiet_end,
        ))
    for planned in plan_schedule(protocol, enrolment.start, enrolment.timezone):
        participant.visits.append(visit_from_plan(planned, now))
    session.add(participant)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise DuplicateStudyId(enrolment.study_id) from None
    record_enrolment_consents(session, participant, enrolment, actor=actor, now=now)
    record(
        session, actor=actor, action="participant.enrolled", entity="participant",
        entity_id=participant.id, participant_id=participant.id, now=now,
        after={
            "study_id": participant.study_id,
            "start_date": participant.start_date.isoformat(),
            "timezone": participant.timezone,
            "language": participant.language,
            "age": participant.age,
            "contacts": [{"role": c.role.value, "language": c.language, "texts": c.agreed_to_texts,
                          "questionnaires": c.receives_questionnaires} for c in participant.contacts],
            "consent_version": enrolment.consent_version,
            "visits": len(participant.visits),
            "protocol": protocol.name,
        },
    )
    plan_participant(session, participant, protocol, public_url=public_url, now=now)
    plan_questionnaires(session, participant, protocol, instruments, now=now)
    return participant


def visit_from_plan(planned, now):
    """Build a Visit row from a planned visit."""
    return Visit(
        kind=VisitKind(planned.kind),
        protocol_key=planned.key,
        dose_number=planned.dose_number,
        starts_at=planned.starts_at,
        duration_minutes=planned.duration_minutes,
        window_opens_on=planned.window_opens_on,
        window_closes_on=planned.window_closes_on,
        created_at=now,
        updated_at=now,
    )


def set_participant_status(session, participant, status, *, reason, actor, now):
    """Pause, withdraw, complete or reactivate a participant; anything but active mutes texts."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("reason")
    if status == participant.status:
        return participant
    before = {"status": participant.status.value}
    participant.status = status
    record(session, actor=actor, action="participant.status", entity="participant", entity_id=participant.id,
           participant_id=participant.id, now=now, before=before, after={"status": status.value}, reason=reason)
    session.flush()
    return participant


def get_participant_or_404(study_id):
    """Return the participant with this study ID for a staff page, or answer 404."""
    participant = db.session.scalar(select(Participant).where(Participant.study_id == study_id))
    if participant is None:
        abort(404)
    return participant
