"""Recording and withdrawing consent, with its effect at once; callers own the transaction."""

from sqlalchemy import select, update

from pro_app.audit.operations import record
from pro_app.consent.models import Consent, ConsentKind
from pro_app.participants.models import ParticipantStatus
from pro_app.questionnaires.models import OPEN_ASSIGNMENT, Assignment, AssignmentState
from pro_app.sms.models import Message, MessageState

#: What a withdrawal covers.
SCOPES = ("texts", "questionnaires", "study")


def give(session, participant, kind, *, contact=None, version, language, actor, now):
    """Record one consent given; flush, don't commit."""
    consent = Consent(participant_id=participant.id, contact_id=contact.id if contact else None, kind=str(kind),
                      document_version=version, language=language, taken_by=actor.label, staff_id=actor.staff_id,
                      given_at=now)
    session.add(consent)
    return consent


def record_enrolment_consents(session, participant, enrolment, *, actor, now):
    """Store the consents taken at enrolment and set each contact's texts and questionnaires by them."""
    version, lang = enrolment.consent_version, enrolment.language
    choices = []
    for contact in participant.contacts:
        if contact.is_patient:
            choices.append((contact, enrolment.texts, enrolment.questionnaires))
    caregivers = [c for c in participant.contacts if not c.is_patient]
    for contact, given in zip(caregivers, enrolment.caregivers, strict=False):
        choices.append((contact, given.texts, given.questionnaires))
    for contact, texts, questionnaires in choices:
        if texts:
            give(session, participant, ConsentKind.TEXTS, contact=contact, version=version, language=contact.language,
                 actor=actor, now=now)
        else:
            contact.consent_at = None  # nothing is ever sent to this contact, the welcome included
        if questionnaires:
            give(session, participant, ConsentKind.QUESTIONNAIRES, contact=contact, version=version,
                 language=contact.language, actor=actor, now=now)
        else:
            contact.receives_questionnaires = False
    give(session, participant, ConsentKind.HEALTH_DATA, version=version, language=lang, actor=actor, now=now)
    if enrolment.guardian:
        give(session, participant, ConsentKind.GUARDIAN, contact=caregivers[0] if caregivers else None,
             version=version, language=lang, actor=actor, now=now)
    if enrolment.assent:
        give(session, participant, ConsentKind.ASSENT, version=version, language=lang, actor=actor, now=now)
    session.flush()


def consents_of(session, participant):
    """Return every consent of a participant and their contacts, oldest first."""
    return session.scalars(select(Consent).where(Consent.participant_id == participant.id)
                           .order_by(Consent.given_at, Consent.id)).all()


def _withdraw_rows(session, participant, kinds, contact, now, reason):
    stmt = update(Consent).where(Consent.participant_id == participant.id, Consent.kind.in_(kinds),
                                 Consent.withdrawn_at.is_(None))
    if contact is not None:
        stmt = stmt.where(Consent.contact_id == contact.id)
    return session.execute(stmt.values(withdrawn_at=now, withdrawn_reason=reason)
                           .execution_options(synchronize_session=False)).rowcount


def _cancel_texts(session, participant, contact_ids=None, assignment_ids=None, now=None):
    stmt = update(Message).where(Message.participant_id == participant.id, Message.state == MessageState.PENDING)
    if contact_ids is not None:
        stmt = stmt.where(Message.contact_id.in_(contact_ids))
    if assignment_ids is not None:
        stmt = stmt.where(Message.assignment_id.in_(assignment_ids))
    return session.execute(stmt.values(state=MessageState.CANCELLED, updated_at=now)
                           .execution_options(synchronize_session=False)).rowcount


def _close_windows(session, participant, contact_ids, now):
    """Close the respondents' open questionnaires (answers already given are kept); return their ids."""
    stmt = select(Assignment.id).where(Assignment.participant_id == participant.id,
                                       Assignment.state.in_(OPEN_ASSIGNMENT))
    if contact_ids is not None:
        stmt = stmt.where(Assignment.contact_id.in_(contact_ids))
    ids = session.scalars(stmt).all()
    if ids:
        # Superseded, not expired: a withdrawn questionnaire is not a missed one (no missed-answer alert).
        session.execute(update(Assignment).where(Assignment.id.in_(ids))
                        .values(state=AssignmentState.SUPERSEDED).execution_options(synchronize_session=False))
    return ids


def withdraw(session, participant, scope, *, reason, actor, now, contact=None):
    """Withdraw texts, questionnaires or the whole study, for one contact or all, with effect at once.

    Pending texts are cancelled and open questionnaire windows closed in this transaction; answers
    already given stay, as the protocol says. Audited with the reason. Flush, don't commit.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("reason")
    if scope not in SCOPES:
        raise ValueError("scope")
    contacts = [contact] if contact is not None else list(participant.contacts)
    contact_ids = [c.id for c in contacts]
    effect = {}
    if scope == "texts":
        effect["consents"] = _withdraw_rows(session, participant, [ConsentKind.TEXTS], contact, now, reason)
        for c in contacts:
            c.consent_at = None
        effect["texts_cancelled"] = _cancel_texts(session, participant, contact_ids, now=now)
    elif scope == "questionnaires":
        effect["consents"] = _withdraw_rows(session, participant, [ConsentKind.QUESTIONNAIRES], contact, now,
                                            reason)
        for c in contacts:
            c.receives_questionnaires = False
        closed = _close_windows(session, participant, contact_ids, now)
        effect["windows_closed"] = len(closed)
        effect["texts_cancelled"] = _cancel_texts(session, participant, assignment_ids=closed, now=now) if closed else 0
    else:
        effect["consents"] = _withdraw_rows(session, participant, [k.value for k in ConsentKind], None, now, reason)
        for c in participant.contacts:
            c.consent_at = None
            c.receives_questionnaires = False
        effect["windows_closed"] = len(_close_windows(session, participant, None, now))
        effect["texts_cancelled"] = _cancel_texts(session, participant, now=now)
        before_status = participant.status.value
        participant.status = ParticipantStatus.WITHDRAWN
        effect["status"] = {"before": before_status, "after": participant.status.value}
    record(session, actor=actor, action=f"consent.withdrawn.{scope}", entity="participant", entity_id=participant.id,
           participant_id=participant.id, now=now, reason=reason,
           after={"scope": scope, "contact_id": contact.id if contact else None, **effect})
    session.flush()
    return effect
