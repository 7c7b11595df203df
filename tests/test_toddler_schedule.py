"""Children under 7 get the toddler form from a caregiver instead of the symptom check (pure)."""

from datetime import date

import pytest

from pro_app.protocol.model import load_protocol
from pro_app.questionnaires.schedule import plan_assignments, respondents_for

PROTOCOL = load_protocol(None)


def _plan(age_group):
    respondents = respondents_for(age_group, (1, "Asia/Shanghai"), [(2, "Asia/Shanghai")])
    return plan_assignments(PROTOCOL, start=date(2026, 3, 2), respondents=respondents, infusions=[],
                            accepts=lambda instrument, role: True)


@pytest.mark.parametrize(("age_group", "weekly", "not_weekly"), [
    ("child", "toddler-check", "symptom-check"),
    ("adolescent", "symptom-check", "toddler-check"),
    ("adult", "symptom-check", "toddler-check"),
])
def test_the_weekly_check_fits_the_age(age_group, weekly, not_weekly):
    planned = _plan(age_group)
    instruments = {p.instrument for p in planned}
    assert weekly in instruments and not_weekly not in instruments
    assert {"baseline", "quality-of-life"} <= instruments  # every age still gets these
    weekly_rows = [p for p in planned if p.instrument == weekly]
    assert len({p.occasion for p in weekly_rows}) == 24 + 7  # weeks 1-24, then 28-52 every 4


def test_a_young_child_is_answered_for_by_the_caregiver_only():
    planned = _plan("child")
    assert {(p.contact_id, p.respondent) for p in planned if p.instrument == "toddler-check"} == {(2, "proxy")}
