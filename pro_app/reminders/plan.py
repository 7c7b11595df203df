"""Which reminders a visit needs, for whom and when (pure)."""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from pro_app.clock import local_to_utc, to_local
from pro_app.reminders.quiet import next_allowed


@dataclass(frozen=True)
class Recipient:
    """A contact as the planner sees it."""

    contact_id: int
    phone: str
    language: str
    timezone: str
    quiet_start: time
    quiet_end: time
    wants_visit_reminders: bool = True
    #: The contact's own time for the evening-before reminders; None: the protocol's.
    evening_time: time | None = None


@dataclass(frozen=True)
class PlannedReminder:
    dedupe_key: str
    recipient: Recipient
    step: str
    due_at: datetime
    expires_at: datetime
    during_quiet_hours: bool
    params: dict = field(default_factory=dict, compare=False)


def is_evening_step(step):
    """Tell whether a reminder step is one of the evenings before a visit (a family may move those)."""
    return step.days_before > 0 and not step.during_quiet_hours


def step_time(step, recipient):
    """Return a step's local time for one contact: their own evening time for the evenings before."""
    if recipient.evening_time is not None and is_evening_step(step):
        return recipient.evening_time
    return step.time


def plan_visit_reminders(*, visit_id, revision, starts_at, visit_zone, recipients, steps, now):
    """Plan each reminder step of one visit for each recipient.

    Steps are in the contact's own zone on the days before the visit's local date. A step is
    stale once the next step is due or its local day is over (its wording names the day), and
    every step once the visit has started, so a late scheduler sends the most recent useful
    reminder and nothing for a visit already begun.
    """
    visit_day = to_local(starts_at, visit_zone).date()
    planned = []
    for r in recipients:
        if not r.wants_visit_reminders:
            continue
        times = []
        for step in steps:
            due = local_to_utc(visit_day - timedelta(days=step.days_before), step_time(step, r), r.timezone)
            if not step.during_quiet_hours:
                due = next_allowed(due, r.timezone, r.quiet_start, r.quiet_end)
            times.append((step, due))
        for i, (step, due) in enumerate(times):
            expires = starts_at
            if i + 1 < len(times):
                expires = min(expires, times[i + 1][1])
            # A text that says "tomorrow" is only true on its own local day.
            step_day = visit_day - timedelta(days=step.days_before)
            expires = min(expires, local_to_utc(step_day + timedelta(days=1), time(0, 0), r.timezone))
            if due >= expires or expires <= now:
                continue
            planned.append(PlannedReminder(
                dedupe_key=f"visit:{visit_id}:r{revision}:c{r.contact_id}:{step.step}",
                recipient=r, step=step.step, due_at=due, expires_at=expires,
                during_quiet_hours=step.during_quiet_hours,
            ))
    return planned
