"""Turn a participant's start date and zone into the protocol's visits (pure)."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from pro_app.clock import local_to_utc


@dataclass(frozen=True)
class PlannedVisit:
    """A visit the protocol asks for, on the participant's local calendar."""

    key: str
    kind: str
    dose_number: int | None
    phase: str | None
    local_date: date
    local_time: time
    starts_at: datetime
    duration_minutes: int
    window_opens_on: date
    window_closes_on: date


def study_day_date(start, day):
    """Return the calendar date of a study day (day 1 is the start; day -1 the day before)."""
    return start + timedelta(days=day - 1 if day > 0 else day)


def infusion_days(protocol):
    """Yield (dose number, phase, study day) for every planned infusion."""
    dose = 0
    for phase in protocol.phases:
        for week in range(phase.from_week, phase.to_week + 1, phase.every_weeks):
            dose += 1
            yield dose, phase, 7 * (week - 1) + 1


def _infusion_minutes(protocol, dose):
    if dose == 1:
        return protocol.first_infusion_minutes
    if dose == 2:
        return protocol.second_infusion_minutes
    return protocol.later_infusion_minutes


def plan_schedule(protocol, start: date, tz: str):
    """Plan every protocol visit for a participant starting on `start` in zone `tz`."""
    planned = []
    for dose, phase, day in infusion_days(protocol):
        on = study_day_date(start, day)
        # Day 1 is defined by the first infusion, so its window cannot open earlier.
        before = 0 if dose == 1 else phase.window_before
        planned.append(PlannedVisit(
            key=f"infusion-{dose}",
            kind="infusion",
            dose_number=dose,
            phase=phase.name,
            local_date=on,
            local_time=protocol.infusion_time,
            starts_at=local_to_utc(on, protocol.infusion_time, tz),
            duration_minutes=_infusion_minutes(protocol, dose),
            window_opens_on=on - timedelta(days=before),
            window_closes_on=on + timedelta(days=phase.window_after),
        ))
    for visit in protocol.marrow_visits:
        on = study_day_date(start, visit.day)
        planned.append(PlannedVisit(
            key=f"marrow-{visit.key}",
            kind="marrow",
            dose_number=None,
            phase=None,
            local_date=on,
            local_time=protocol.marrow_time,
            starts_at=local_to_utc(on, protocol.marrow_time, tz),
            duration_minutes=protocol.marrow_minutes,
            window_opens_on=on - timedelta(days=visit.window_before),
            window_closes_on=on + timedelta(days=visit.window_after),
        ))
    planned.sort(key=lambda v: (v.starts_at, v.kind))
    return planned
