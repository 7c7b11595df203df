"""Who is on call when, gaps in the rota, and the nurse lead's text about a gap; callers own the transaction."""

from datetime import timedelta

from sqlalchemy import select

from pro_app.audit.operations import record
from pro_app.oncall.models import Shift
from pro_app.reminders.operations import enqueue, message_row
from pro_app.reminders.texts import render
from pro_app.staff.models import StaffRole, StaffUser

#: How far ahead a gap in the rota is looked for.
GAP_HORIZON = timedelta(hours=24)


class ShiftError(ValueError):
    """A shift that cannot be stored (the message says why)."""


def add_shift(session, user, starts_at, ends_at, *, actor, now):
    """Put a nurse on call from start to end; flush, don't commit."""
    if ends_at <= starts_at:
        raise ShiftError("the shift must end after it starts")
    if not user.active:
        raise ShiftError(f"{user.email} is deactivated")
    if not user.phone:
        raise ShiftError(f"{user.email} has no mobile number for alert texts")
    shift = Shift(staff_id=user.id, starts_at=starts_at, ends_at=ends_at, created_at=now)
    session.add(shift)
    session.flush()
    record(session, actor=actor, action="oncall.shift_added", entity="oncall_shift", entity_id=shift.id, now=now,
           after={"staff": user.email, "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()})
    return shift


def remove_shift(session, shift, *, actor, now):
    """Take a shift off the rota; flush, don't commit."""
    record(session, actor=actor, action="oncall.shift_removed", entity="oncall_shift", entity_id=shift.id, now=now,
           before={"staff": shift.staff.email, "starts_at": shift.starts_at.isoformat(),
                   "ends_at": shift.ends_at.isoformat()})
    session.delete(shift)
    session.flush()


def shifts_between(session, start, end):
    """Return the shifts that overlap [start, end), earliest first."""
    return session.scalars(select(Shift).where(Shift.starts_at < end, Shift.ends_at > start)
                           .order_by(Shift.starts_at, Shift.id)).all()


def rota_in_use(session):
    """Tell whether any shift was ever put on the rota (until then the fixed on-call flag decides)."""
    return session.scalar(select(Shift.id).limit(1)) is not None


def on_call_at(session, now):
    """Return the nurses whose shift covers this instant and who can be texted, by staff id."""
    return session.scalars(
        select(StaffUser).join(Shift, Shift.staff_id == StaffUser.id)
        .where(Shift.starts_at <= now, Shift.ends_at > now, StaffUser.active.is_(True), StaffUser.phone.is_not(None))
        .order_by(StaffUser.id).distinct()
    ).all()


def on_call_now(session, now):
    """Return who gets red alerts at this instant: the nurses on shift, else the accounts marked on call."""
    return list(on_call_at(session, now)) or session.scalars(
        select(StaffUser).where(StaffUser.active.is_(True), StaffUser.on_call.is_(True)).order_by(StaffUser.id)).all()


def gaps(spans, start, end):
    """Return the parts of [start, end) that no (starts, ends) span covers, in order."""
    found, cursor = [], start
    for s, e in sorted(spans):
        if s > cursor:
            found.append((cursor, min(s, end)))
        cursor = max(cursor, e)
        if cursor >= end:
            break
    if cursor < end:
        found.append((cursor, end))
    return [(a, b) for a, b in found if a < b]


def coverable():
    """Select the shift spans that count: only those of active staff with a phone."""
    return select(Shift.starts_at, Shift.ends_at).join(StaffUser, StaffUser.id == Shift.staff_id).where(
        StaffUser.active.is_(True), StaffUser.phone.is_not(None))


def next_gap(session, now, horizon=GAP_HORIZON):
    """Return (gap start, gap end) of the first gap in the rota within the horizon, or None.

    The start is where the gap really begins (the end of the last shift before it), so a gap
    already open is the same gap at every tick.
    """
    if not rota_in_use(session):
        return None
    end = now + horizon
    spans = session.execute(coverable().where(Shift.starts_at < end, Shift.ends_at > now)).all()
    found = gaps([(s, e) for s, e in spans], now, end)
    if not found:
        return None
    start, stop = found[0]
    if start == now:
        before = session.execute(coverable().where(Shift.ends_at <= now)
                                 .order_by(Shift.ends_at.desc()).limit(1)).first()
        start = before.ends_at if before else None
    return start, stop


def nurse_leads(session):
    """Return who hears about gaps: the nurse leads, or the administrators when none is marked."""
    staff = session.scalars(select(StaffUser).where(StaffUser.active.is_(True), StaffUser.phone.is_not(None))
                            .order_by(StaffUser.id)).all()
    return [s for s in staff if s.nurse_lead] or [s for s in staff if s.role == StaffRole.ADMIN]


def warn_of_gap(session, now, *, protocol, public_url):
    """Text the nurse lead once about the first gap in the next 24 h; return how many texts were queued."""
    gap = next_gap(session, now)
    if gap is None:
        return 0
    start, stop = gap
    label = start.isoformat() if start else "start"
    rows = []
    for lead in nurse_leads(session):
        lang = lead.language if lead.language in protocol.site_name else "zh-CN"
        rows.append(message_row(
            key=f"rota-gap:{label}:s{lead.id}", participant_id=None, contact_id=None, phone=lead.phone,
            template="staff_rota_gap", language=lang, due_at=now, ignore_quiet_hours=True, now=now,
            body=render("staff_rota_gap", lang, site=protocol.site_name[lang], url=f"{public_url}/staff/oncall/"),
        ))
    enqueue(session, rows)
    session.flush()
    return len(rows)
