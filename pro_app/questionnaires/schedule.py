"""Which questionnaires are due to whom and when (pure)."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l

from pro_app.clock import local_to_utc
from pro_app.protocol.planner import study_day_date
from pro_app.reminders.quiet import latest_allowed

#: A nudge never lands this close before a visit: the family is getting ready for it.
CLEAR_BEFORE_VISIT = timedelta(hours=12)
#: A nudge this soon after the invitation would only repeat it.
NUDGE_AFTER_INVITE = timedelta(hours=2)


@dataclass(frozen=True)
class Respondent:
    contact_id: int
    role: str  # self, or proxy for a caregiver answering for the patient
    timezone: str
    age_group: str = "adult"  # the patient's: child (<7), adolescent (7-17) or adult


@dataclass(frozen=True)
class PlannedAssignment:
    instrument: str
    occasion: str
    contact_id: int
    respondent: str
    opens_at: datetime
    closes_at: datetime
    visit_id: int | None = None


#: Occasions that are said in words; the rest are a base name plus a week or dose number.
OCCASION_NAMES = {
    "baseline": _l("baseline"), "end-of-treatment": _l("end of treatment"), "screening": _l("screening"),
}


def occasion_label(occasion):
    """Say an occasion in the reader's language: 'infusion-2' -> 'after infusion 2', 'weekly-w1' -> 'week 1'."""
    if occasion in OCCASION_NAMES:
        return OCCASION_NAMES[occasion]
    base, _sep, tail = occasion.rpartition("-")
    if base and tail.startswith("w") and tail[1:].isdigit():
        return _l("week %(n)d", n=int(tail[1:]))
    if base == "infusion" and tail.isdigit():
        return _l("after infusion %(n)d", n=int(tail))
    if base == "report":
        return _l("reported by the family")
    return occasion


def respondents_for(age_group, patient, caregivers):
    """Pick who answers: under 7 a caregiver only, 7-17 the patient and a caregiver, adults themselves.

    `patient` and each caregiver are (contact id, zone) or None; the first caregiver answers as proxy.
    """
    out = []
    if patient is not None and age_group in ("adolescent", "adult"):
        out.append(Respondent(patient[0], "self", patient[1], age_group))
    if caregivers and age_group in ("child", "adolescent"):
        out.append(Respondent(caregivers[0][0], "proxy", caregivers[0][1], age_group))
    return out


def _window(entry, start, tz):
    """Yield (occasion suffix, opens_at, closes_at) for a once or repeat entry."""
    if entry.kind == "once":
        yield "", (local_to_utc(study_day_date(start, entry.opens_day), entry.opens, tz),
                   local_to_utc(study_day_date(start, entry.closes_day), entry.closes, tz))
        return
    for week in range(entry.from_week, entry.to_week + 1, entry.every_weeks):
        day = study_day_date(start, 7 * (week - 1) + entry.day)
        yield f"-w{week}", (local_to_utc(day, entry.opens, tz),
                            local_to_utc(day + timedelta(days=entry.open_days), entry.closes, tz))


def infusion_window(entry, infusion_day, tz):
    """Return the window of an after-infusion questionnaire for an infusion on a local date."""
    return (local_to_utc(infusion_day, entry.opens, tz),
            local_to_utc(infusion_day + timedelta(days=entry.open_days), entry.closes, tz))


def plan_assignments(protocol, *, start, respondents, infusions, accepts):
    """Plan every questionnaire of the protocol for these respondents.

    `infusions` is [(visit id, dose number, local date)]; `accepts(instrument, role)` tells
    whether an instrument has wording for that respondent.
    """
    planned = []
    for entry in protocol.questionnaires:
        for r in respondents:
            if not accepts(entry.instrument, r.role):
                continue
            if entry.age_groups and r.age_group not in entry.age_groups:
                continue  # e.g. the toddler form instead of the symptom check under 7
            if entry.kind == "after_infusion":
                for visit_id, dose, day in infusions:
                    opens, closes = infusion_window(entry, day, r.timezone)
                    planned.append(PlannedAssignment(entry.instrument, f"{entry.occasion}-{dose}", r.contact_id,
                                                     r.role, opens, closes, visit_id))
                continue
            for suffix, (opens, closes) in _window(entry, start, r.timezone):
                planned.append(PlannedAssignment(entry.instrument, entry.occasion + suffix, r.contact_id,
                                                 r.role, opens, closes))
    planned.sort(key=lambda a: (a.opens_at, a.instrument, a.contact_id))
    return planned


def nudge_time(*, opens_at, closes_at, before, quiet, visit_starts, now):
    """Return when to nudge about an open questionnaire, or None when there is no good moment.

    The nudge goes `before` the window closes, moved earlier out of the respondent's quiet hours
    (`quiet` is (zone, start, end)) and out of the 12 hours before any visit.
    """
    at = closes_at - before
    for _ in range(len(visit_starts) + 2):
        at = latest_allowed(at, *quiet)
        clash = [v for v in visit_starts if v - CLEAR_BEFORE_VISIT <= at < v]
        if not clash:
            break
        at = min(clash) - CLEAR_BEFORE_VISIT
    else:
        return None
    if at <= opens_at + NUDGE_AFTER_INVITE or at <= now:
        return None
    return at
