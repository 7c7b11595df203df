"""Phone-number status: opt-out, opt-in and unreachable numbers; callers commit."""

from sqlalchemy import select

from pro_app.audit.operations import SYSTEM, record
from pro_app.db import insert_new
from pro_app.sms.models import PhoneNumber


def phone_status(session, phone, now):
    """Return the PhoneNumber row for a number, creating it if needed."""
    session.execute(insert_new(session, PhoneNumber, ["phone"]).values(phone=phone, updated_at=now))
    return session.scalar(select(PhoneNumber).where(PhoneNumber.phone == phone)
                          .execution_options(populate_existing=True))


def opt_out(session, phone, *, source, now, actor=SYSTEM):
    """Stop every text to a number at once (STOP keyword or Twilio error 21610)."""
    row = phone_status(session, phone, now)
    if row.opted_out_at is None:
        row.opted_out_at, row.opt_out_source, row.updated_at = now, source, now
        record(session, actor=actor, action="phone.opted_out", entity="phone", now=now,
               after={"phone": phone, "source": source})
        _alert(session, phone, "opted out", now)
    return row


def opt_in(session, phone, *, now, actor=SYSTEM):
    """Let texts reach a number again (START keyword)."""
    row = phone_status(session, phone, now)
    if row.opted_out_at is not None:
        before = {"phone": phone, "opted_out_at": row.opted_out_at.isoformat(), "source": row.opt_out_source}
        row.opted_out_at = row.opt_out_source = None
        row.updated_at = now
        record(session, actor=actor, action="phone.opted_in", entity="phone", now=now,
               before=before, after={"phone": phone})
    return row


def mark_unreachable(session, phone, *, code, now):
    """Record that texts cannot reach a number (invalid, landline, unreachable)."""
    row = phone_status(session, phone, now)
    if row.unreachable_at is None:
        row.unreachable_at, row.unreachable_code, row.updated_at = now, code, now
        record(session, actor=SYSTEM, action="phone.unreachable", entity="phone", now=now,
               after={"phone": phone, "error_code": code})
        _alert(session, phone, "unreachable", now, code)
    return row


def mark_reachable(session, phone, *, now):
    """Clear an unreachable mark, e.g. when the number itself texts us."""
    row = session.get(PhoneNumber, phone)
    if row is not None and row.unreachable_at is not None:
        before = {"phone": phone, "unreachable_at": row.unreachable_at.isoformat(), "error_code": row.unreachable_code}
        row.unreachable_at = row.unreachable_code = None
        row.updated_at = now
        record(session, actor=SYSTEM, action="phone.reachable", entity="phone", now=now,
               before=before, after={"phone": phone})
    return row


def _alert(session, phone, reason, now, code=None):
    """Tell the study team that a family can no longer be reached by text."""
    from pro_app import alerts
    from pro_app.alerts.operations import unreachable_contact

    unreachable_contact(session, phone, reason, now=now, error_code=code, **alerts.context())


def phone_statuses(session, phones):
    """Return {phone: PhoneNumber} for the numbers that have a status."""
    if not phones:
        return {}
    return {row.phone: row for row in session.scalars(select(PhoneNumber).where(PhoneNumber.phone.in_(phones)))}
