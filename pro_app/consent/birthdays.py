"""Birthdays that matter: turning 14 or 18 during the trial means consent is taken again."""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from pro_app.consent.models import Consent
from pro_app.participants.models import Participant, ParticipantStatus

#: Ages at which consent is taken again: 14 (a minor's own consent) and 18 (an adult's, who takes
#: over the texts from the parents).
RECONSENT_AGES = (14, 18)
#: The task shows this long before the birthday.
LEAD = timedelta(days=30)


@dataclass(frozen=True)
class ReconsentTask:
    study_id: str
    age: int
    birthday: date


def birthday_at(born, age):
    """Return the day someone turns `age` (28 February for a 29 February birthday in a common year)."""
    try:
        return born.replace(year=born.year + age)
    except ValueError:
        return date(born.year + age, 2, 28)


def due_ages(born, start, today, done=()):
    """Return the (age, birthday) pairs needing re-consent now: within 30 days ahead or passed, not yet done."""
    return [(age, day) for age in RECONSENT_AGES
            if age not in done and (day := birthday_at(born, age)) > start and today >= day - LEAD]


def reconsent_tasks(session, today):
    """Return the re-consent tasks of active participants as of a study-zone day, birthday first."""
    earliest = date(today.year - max(RECONSENT_AGES) - 2, 1, 1)
    latest = date(today.year - min(RECONSENT_AGES) + 1, 12, 31)
    rows = session.execute(select(Participant.id, Participant.study_id, Participant.birth_date, Participant.start_date)
                           .where(Participant.status == ParticipantStatus.ACTIVE,
                                  Participant.birth_date.between(earliest, latest))).all()
    if not rows:
        return []
    done = {}
    for pid, kind in session.execute(select(Consent.participant_id, Consent.kind).where(
            Consent.participant_id.in_([r.id for r in rows]), Consent.kind.like("reconsent_%"))):
        done.setdefault(pid, set()).add(int(kind.rpartition("_")[2]))
    tasks = [ReconsentTask(r.study_id, age, day) for r in rows
             for age, day in due_ages(r.birth_date, r.start_date, today, done.get(r.id, ()))]
    return sorted(tasks, key=lambda t: (t.birthday, t.study_id))
