"""Staff phones watched: an on-call number texts may not reach sends alerts to the next level."""

from sqlalchemy import func, select

from pro_app.sms.models import Message, MessageState, PhoneNumber
from pro_app.staff.models import StaffUser

#: Numbers that must not be texted at all (STOP is the law) or cannot be.
BLOCKED = ("opted out", "unreachable")
#: A last text that ended like this means the number may not work: text it, but tell the next level too.
FAILED_LAST = (MessageState.UNDELIVERED, MessageState.FAILED)


def phone_problems(session, phones):
    """Return {phone: "opted out" | "unreachable" | "undelivered"} for the numbers texts may not reach."""
    phones = sorted({p for p in phones if p})
    if not phones:
        return {}
    problems = {}
    for row in session.scalars(select(PhoneNumber).where(PhoneNumber.phone.in_(phones))):
        if row.opted_out_at is not None:
            problems[row.phone] = "opted out"
        elif row.unreachable_at is not None:
            problems[row.phone] = "unreachable"
    rest = [p for p in phones if p not in problems]
    if rest:
        # The last text that went out (or failed to) to each number, in one query.
        last = (select(func.max(Message.id).label("id")).where(
            Message.to_phone.in_(rest),
            Message.state.not_in((MessageState.PENDING, MessageState.SENDING, MessageState.CANCELLED)))
            .group_by(Message.to_phone).subquery())
        latest = select(Message.to_phone, Message.state).join(last, Message.id == last.c.id)
        problems.update((phone, "undelivered") for phone, state in session.execute(latest) if state in FAILED_LAST)
    return problems


def on_call_watch(session, on_call=None):
    """Return the on-call staff whose phone is a problem, and whether anyone on call can be texted.

    `on_call` is who is on call now (default: the active accounts marked on call). Returns
    {"problems": [(staff, reason), ...], "nobody_reachable": bool}; a reason is "no phone",
    "opted out", "unreachable" or "undelivered".
    """
    if on_call is None:
        on_call = session.scalars(select(StaffUser).where(StaffUser.active.is_(True), StaffUser.on_call.is_(True))
                                  .order_by(StaffUser.id)).all()
    problems = phone_problems(session, [s.phone for s in on_call])
    found = [(s, "no phone" if not s.phone else problems[s.phone]) for s in on_call
             if not s.phone or s.phone in problems]
    return {"problems": found, "nobody_reachable": len(found) == len(on_call)}
