"""Report a problem now: a standing link per contact that opens a short symptom report at any time."""

import hashlib
import hmac
from datetime import timedelta

from sqlalchemy import select

from pro_app.participants.models import Contact, ContactRole

REPORT_WINDOW = timedelta(hours=24)  # long enough to finish later the same day, short enough to stay current


def _signature(contact_id, secret):
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, f"report:{contact_id}".encode(), hashlib.sha256).hexdigest()[:32]


def report_token(contact_id, secret):
    """Make a contact's standing report token: signed, so it needs no row and cannot be guessed."""
    return f"{contact_id}-{_signature(contact_id, secret)}"


def contact_for_token(session, token, secret):
    """Return the contact a report token belongs to, or None for anything else."""
    contact_id, _sep, signature = (token or "").partition("-")
    if not contact_id.isdigit() or len(contact_id) > 12 or not hmac.compare_digest(
            signature, _signature(int(contact_id), secret)):
        return None
    return session.scalar(select(Contact).where(Contact.id == int(contact_id)))


def report_instrument(participant):
    """Pick the form for an ad-hoc report: the toddler form under 7, else the symptom check."""
    return "toddler-check" if participant.age_group == "child" else "symptom-check"


def can_report(contact, participant):
    """Tell whether this contact may report for this participant (consented, and a respondent)."""
    if not contact.agreed_to_texts or not participant.is_active:
        return False
    if contact.role == ContactRole.PATIENT:
        return participant.age_group != "child"
    return True


def open_report(session, contact, now):
    """Create an ad-hoc report assignment for a contact, open from now; flush and return it."""
    from pro_app.questionnaires.models import Assignment, AssignmentState

    participant = contact.participant
    assignment = Assignment(
        participant_id=participant.id, contact_id=contact.id,
        respondent="self" if contact.role == ContactRole.PATIENT else "proxy",
        instrument_id=report_instrument(participant), occasion=f"report-{now:%Y%m%d%H%M%S}",
        opens_at=now, closes_at=now + REPORT_WINDOW, state=AssignmentState.PENDING, created_at=now, updated_at=now,
    )
    session.add(assignment)
    session.flush()
    return assignment
