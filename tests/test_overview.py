"""The study overview: the team's time to acknowledge and resolve, checked against alerts with known times."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from pro_app.alerts.models import Alert, AlertState
from pro_app.db import db
from pro_app.overview.figures import AlertTimes, open_by_age, percentile, response_times
from pro_app.participants.models import Participant

NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)

#: (severity, opened minutes ago, minutes to acknowledge, minutes to resolve); None: not yet.
KNOWN = [
    ("red", 60 * 24, 4, 30), ("red", 60 * 48, 6, 50), ("red", 60 * 72, 10, 90), ("red", 60 * 96, 2, 20),
    ("red", 60 * 120, 30, None),
    ("amber", 60 * 24 * 2, 120, 240), ("amber", 60 * 24 * 3, 600, 900), ("amber", 60 * 24 * 4, 60, None),
    ("amber", 30, None, None),        # open for half an hour: waiting, under 1 h old
    ("red", 60 * 24 * 40, 1, 5),      # opened 40 days ago: outside the last 30 days
]


def known_alerts():
    out = []
    for severity, ago, ack, done in KNOWN:
        opened = NOW - ago * MIN
        out.append(AlertTimes(severity, opened, opened + ack * MIN if ack is not None else None,
                              opened + done * MIN if done is not None else None))
    return out


def test_percentile_is_nearest_rank():
    assert percentile([], 0.9) is None
    assert percentile([5], 0.9) == 5
    assert percentile(list(range(1, 11)), 0.9) == 9
    assert percentile([2, 4, 6, 10, 30], 0.9) == 30


def test_time_to_acknowledge_and_resolve_from_known_alerts():
    figures = response_times(known_alerts(), NOW)
    red, amber = figures["red"], figures["amber"]
    assert red["opened"] == 5 and amber["opened"] == 4
    # red acknowledged after 4, 6, 10, 2, 30 minutes: median 6, nearest-rank 90th percentile 30.
    assert red["acknowledge"] == {"n": 5, "waiting": 0, "median": 6, "p90": 30}
    # red resolved after 30, 50, 90, 20 minutes (one still open): median 40, p90 90.
    assert red["resolve"] == {"n": 4, "waiting": 1, "median": 40, "p90": 90}
    assert amber["acknowledge"] == {"n": 3, "waiting": 1, "median": 120, "p90": 600}
    assert amber["resolve"] == {"n": 2, "waiting": 2, "median": 570, "p90": 900}


def test_open_alerts_by_age():
    ages = open_by_age(known_alerts(), NOW)
    assert ages["red"] == {"under_1h": 0, "1h_24h": 0, "1d_3d": 0, "over_3d": 1}
    assert ages["amber"] == {"under_1h": 1, "1h_24h": 0, "1d_3d": 0, "over_3d": 1}


def seed_alerts(app, make_participant):
    make_participant("P-001")
    with app.app_context():
        pid = db.session.scalar(select(Participant.id))
        for severity, ago, ack, done in KNOWN:
            opened = NOW - ago * MIN
            db.session.add(Alert(
                participant_id=pid, rule="symptom-check:test", severity=severity, detail={},
                opened_at=opened, last_seen_at=opened,
                state=AlertState.RESOLVED if done is not None else (
                    AlertState.ACKNOWLEDGED if ack is not None else AlertState.OPEN),
                acknowledged_at=opened + ack * MIN if ack is not None else None,
                resolved_at=opened + done * MIN if done is not None else None))
        db.session.commit()


def cell(page, row_class, name):
    row = re.search(rf'<tr class="{row_class}">(.*?)</tr>', page, re.S).group(1)
    return re.sub(r"\s+", " ", re.search(rf'class="{name}">(.*?)</td>', row, re.S).group(1)).strip()


def test_the_overview_page_shows_the_known_figures(app, client, clock, login, make_participant):
    clock.now = NOW
    seed_alerts(app, make_participant)
    login("nurse", lang="en")
    page = client.get("/staff/overview").get_data(as_text=True)
    assert cell(page, "timing-red-acknowledge", "median") == "6 min"
    assert cell(page, "timing-red-acknowledge", "p90") == "30 min"
    assert cell(page, "timing-red-resolve", "median") == "40 min"
    assert cell(page, "timing-red-resolve", "p90") == "1 h 30 min"
    assert cell(page, "timing-amber-acknowledge", "median") == "2 h 00 min"
    assert cell(page, "timing-amber-resolve", "median") == "9 h 30 min"
    assert "<svg" in page and "<script" not in page  # charts drawn by the server


@pytest.mark.parametrize(("role", "status"), [("monitor", 403), ("investigator", 200), ("admin", 200)])
def test_who_reads_the_overview(client, login, role, status):
    login(role)
    assert client.get("/staff/overview").status_code == status
