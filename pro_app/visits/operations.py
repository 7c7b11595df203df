"""Staff changes to visits; each needs a reason and leaves an audit event."""

from datetime import timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from pro_app.audit.operations import record
from pro_app.clock import local_to_utc
from pro_app.inputs import study_date_bounds
from pro_app.reminders.operations import change_text_rows, enqueue, replan_visit
from pro_app.visits.models import OPEN_STATUSES, Visit, VisitStatus


class VisitChangeError(ValueError):
    """A visit change that cannot be made, with a reason for the form."""


def _require_reason(reason):
    reason = (reason or "").strip()
    if not reason:
        raise VisitChangeError(_l("Give a reason for the change."))
    return reason


def _require_plausible_date(participant, day):
    """Refuse a visit date outside the participant's plausible study period (see inputs)."""
    first, last = study_date_bounds(participant.start_date)
    if not first <= day <= last:
        raise VisitChangeError(_l("Choose a date from %(first)s to %(last)s.",
                                  first=first.isoformat(), last=last.isoformat()))


def _later_open_visits(session, visit, kinds):
    return session.scalars(
        select(Visit)
        .where(
            Visit.participant_id == visit.participant_id,
            Visit.id != visit.id,
            Visit.starts_at > visit.starts_at,
            Visit.status.in_(OPEN_STATUSES),
            Visit.kind.in_(kinds),
        )
        .order_by(Visit.starts_at)
    ).all()


def _neighbours(session, visit):
    """Return the open visits of the same kind just before and just after this one."""
    same = session.scalars(
        select(Visit)
        .where(
            Visit.participant_id == visit.participant_id,
            Visit.id != visit.id,
            Visit.kind == visit.kind,
            Visit.status.in_(OPEN_STATUSES + (VisitStatus.DONE,)),
        )
        .order_by(Visit.starts_at)
    ).all()
    before = [v for v in same if v.starts_at < visit.starts_at]
    after = [v for v in same if v.starts_at > visit.starts_at]
    return (before[-1] if before else None), (after[0] if after else None)


def _shift(visit, days, tz, new_time=None):
    """Move a visit by whole days, keeping its local clock time unless one is given."""
    local = visit.local_start
    visit.starts_at = local_to_utc(local.date() + timedelta(days=days), new_time or local.time(), tz)
    visit.window_opens_on += timedelta(days=days)
    visit.window_closes_on += timedelta(days=days)


def _tell_family(session, visit, change, protocol, now, old_local=None):
    """Queue the change text for a visit (after its reminders were planned again)."""
    enqueue(session, change_text_rows(visit, change, protocol, now, old_local=old_local))


def move_visit(session, visit, new_date, new_time, *, shift_later, shift_other_kinds,
               reason, actor, now, protocol, instruments=None, tell_family=False):
    """Move one visit, optionally shifting the later ones by the same number of days.

    Later visits of the same kind shift with `shift_later`; later visits of other kinds
    (marrow aspirates when a dose moves) shift only with `shift_other_kinds` as well.
    A confirmation no longer holds for a new date; with `tell_family` the moved visit's
    contacts get one change text.
    """
    reason = _require_reason(reason)
    if not visit.is_open:
        raise VisitChangeError(_l("Only scheduled or confirmed visits can be moved."))
    tz = visit.participant.timezone
    _require_plausible_date(visit.participant, new_date)
    old_local = visit.local_start
    days = (new_date - old_local.date()).days
    if days == 0 and new_time == old_local.time().replace(tzinfo=None):
        raise VisitChangeError(_l("The new date and time are the same as the old ones."))

    kinds = set()
    if shift_later:
        kinds.add(visit.kind)
        if shift_other_kinds:
            kinds.update(k for k in type(visit.kind))
    later = _later_open_visits(session, visit, kinds) if kinds and days else []
    for target in later:
        _require_plausible_date(visit.participant, target.local_start.date() + timedelta(days=days))

    previous, following = _neighbours(session, visit)
    if previous is not None and new_date <= previous.local_start.date():
        raise VisitChangeError(_l("That is on or before the previous visit of this kind (%(day)s).",
                                  day=previous.local_start.date().isoformat()))
    if following is not None and not shift_later and new_date >= following.local_start.date():
        raise VisitChangeError(_l("That is on or after the next visit of this kind (%(day)s); "
                                  "tick \"shift later visits\" to move them too.",
                                  day=following.local_start.date().isoformat()))

    changed = []
    for target in [visit, *later]:
        before = target.snapshot()
        if target is visit:
            target.starts_at = local_to_utc(new_date, new_time, tz)
            target.window_opens_on += timedelta(days=days)
            target.window_closes_on += timedelta(days=days)
        else:
            _shift(target, days, tz)
        if target.status == VisitStatus.CONFIRMED:
            target.status = VisitStatus.SCHEDULED  # the family confirmed the old date, not this one
        target.updated_at = now
        record(
            session, actor=actor, now=now, reason=reason,
            action="visit.moved" if target is visit else "visit.shifted",
            entity="visit", entity_id=target.id, participant_id=target.participant_id,
            before=before, after=target.snapshot(),
        )
        replan_visit(session, target, protocol, now, instruments)
        if tell_family and target is visit:
            _tell_family(session, visit, "moved", protocol, now, old_local=old_local)
        changed.append(target)
    session.flush()
    return changed


def set_visit_status(session, visit, status, *, reason, actor, now, protocol, instruments=None,
                     tell_family=False):
    """Mark a visit done, missed, confirmed or cancelled; with `tell_family` a cancellation is texted."""
    reason = _require_reason(reason)
    allowed = {
        VisitStatus.CONFIRMED: OPEN_STATUSES,
        VisitStatus.CANCELLED: OPEN_STATUSES,
        VisitStatus.DONE: OPEN_STATUSES + (VisitStatus.MISSED,),
        VisitStatus.MISSED: OPEN_STATUSES,
        VisitStatus.SCHEDULED: (VisitStatus.CANCELLED, VisitStatus.CONFIRMED),
    }
    if visit.status not in allowed.get(status, ()):
        raise VisitChangeError(_l("A %(old)s visit cannot become %(new)s.",
                                  old=visit.status.value, new=status.value))
    before = visit.snapshot()
    visit.status = status
    visit.updated_at = now
    record(
        session, actor=actor, now=now, reason=reason, action=f"visit.{status.value}",
        entity="visit", entity_id=visit.id, participant_id=visit.participant_id,
        before=before, after=visit.snapshot(),
    )
    replan_visit(session, visit, protocol, now, instruments)
    if tell_family and status == VisitStatus.CANCELLED:
        _tell_family(session, visit, "cancelled", protocol, now)
    session.flush()
    return visit


def add_visit(session, participant, *, kind, on, at, duration_minutes, label, window_days,
              reason, actor, now, protocol, instruments=None, tell_family=False):
    """Add an unplanned visit (an extra aspirate, a replacement dose, a review); optionally text it."""
    reason = _require_reason(reason)
    _require_plausible_date(participant, on)
    visit = Visit(
        participant=participant,
        kind=kind,
        label=(label or "").strip() or None,
        starts_at=local_to_utc(on, at, participant.timezone),
        duration_minutes=duration_minutes,
        window_opens_on=on - timedelta(days=window_days),
        window_closes_on=on + timedelta(days=window_days),
        created_at=now,
        updated_at=now,
    )
    session.add(visit)
    session.flush()
    record(
        session, actor=actor, now=now, reason=reason, action="visit.added", entity="visit",
        entity_id=visit.id, participant_id=participant.id, after=visit.snapshot(),
    )
    replan_visit(session, visit, protocol, now, instruments)
    if tell_family:
        _tell_family(session, visit, "added", protocol, now)
    session.flush()
    return visit
