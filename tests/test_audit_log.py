"""The audit log with 10,000 events: filters by who, what, participant and dates; pages; CSV."""

import csv
import io
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from pro_app.audit.models import AuditEvent
from pro_app.clock import to_local
from pro_app.db import db
from pro_app.participants.models import Participant

START = datetime(2026, 1, 1, tzinfo=UTC)
ENROLLED = datetime(2025, 12, 1, tzinfo=UTC)
ACTORS = ["staff:nurse@example.org", "staff:lead@example.org", "system"]
ACTIONS = ["alert.opened", "alert.resolved", "visit.moved", "participant.status", "questionnaire.link_resent"]


def seed_events(app, make_participant, n=10_000, seed=11):
    """Three participants and n events spread over 60 days; return the events as plain tuples."""
    for sid in ("P-001", "P-002", "P-003"):
        make_participant(sid, phone=None, now=ENROLLED)  # its own events come before every seeded one
    rng = random.Random(seed)
    with app.app_context():
        ids = list(db.session.scalars(select(Participant.id).order_by(Participant.id)))
        rows = []
        for i in range(n):
            rows.append({"at": START + timedelta(minutes=rng.randrange(60 * 24 * 60)), "actor": rng.choice(ACTORS),
                         "action": rng.choice(ACTIONS), "entity": "test", "entity_id": i,
                         "participant_id": ids[0] if i == 7 else rng.choice(ids + [None]), "before": None,
                         "after": {"n": i}, "reason": "=HYPERLINK(\"http://x\")" if i == 7 else None})
        db.session.execute(insert(AuditEvent), rows)
        db.session.commit()
        return ids, rows


def shown(page):
    """The entity ids of the events a page lists (the After column reads 'n: <id>')."""
    import re

    return [int(m) for m in re.findall(r'<span class="change">n: (\d+)</span>', page)]


@pytest.fixture
def events(app, make_participant, login):
    ids, rows = seed_events(app, make_participant)
    login("nurse")
    return ids, rows


def enrolment_events(app, participant_id):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.participant_id == participant_id, AuditEvent.entity != "test"))


def newest_first(rows):
    return sorted(rows, key=lambda r: (r["at"], r["entity_id"]), reverse=True)


def test_filter_by_participant_pages_through_the_right_rows(app, client, events):
    ids, rows = events
    expected = [r["entity_id"] for r in newest_first([r for r in rows if r["participant_id"] == ids[1]])]
    first = client.get("/staff/audit/?participant=P-002").get_data(as_text=True)
    assert f"({len(expected) + enrolment_events(app, ids[1])})" in first
    assert shown(first) == expected[:50]
    third = client.get("/staff/audit/?participant=P-002&page=3").get_data(as_text=True)
    assert shown(third) == expected[100:150]


def test_filter_by_dates_in_the_study_zone_and_by_who_and_what(client, events):
    _ids, rows = events
    since, until = date(2026, 1, 10), date(2026, 1, 12)
    expected = newest_first([r for r in rows if since <= to_local(r["at"], "Asia/Shanghai").date() <= until
                             and r["actor"] == "staff:nurse@example.org" and r["action"].startswith("alert.")])
    page = client.get("/staff/audit/?since=2026-01-10&until=2026-01-12&who=nurse@example.org&what=alert")
    text = page.get_data(as_text=True)
    assert f"({len(expected)})" in text and 0 < len(expected)
    assert shown(text) == [r["entity_id"] for r in expected][:50]


def test_the_csv_holds_every_filtered_row_formula_safe_and_is_audited(app, client, events):
    ids, rows = events
    response = client.get("/staff/audit/?participant=P-001&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    everything = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    table = [r for r in everything if r["entity"] == "test"]
    assert len(everything) - len(table) == enrolment_events(app, ids[0])
    expected = newest_first([r for r in rows if r["participant_id"] == ids[0]])
    assert [int(r["entity_id"]) for r in table] == [r["entity_id"] for r in expected]
    assert {r["study_id"] for r in everything} == {"P-001"}
    typed = next(r for r in table if r["entity_id"] == "7")
    assert typed["reason"] == "'=HYPERLINK(\"http://x\")"  # a spreadsheet shows it, never runs it
    with app.app_context():
        last = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last.action == "export.downloaded" and last.after["rows"] == len(everything)


@pytest.mark.parametrize(("query", "status"), [("participant=NOPE", 404), ("since=2026-13-01", 400),
                                               ("until=1999-01-01", 400), ("what=alert.exploded", 400)])
def test_bad_filters_get_a_clear_answer(client, login, query, status):
    login("nurse")
    assert client.get(f"/staff/audit/?{query}").status_code == status


def test_every_action_the_app_records_reads_as_words_and_has_a_family():
    import re
    from pathlib import Path

    import pro_app
    from pro_app.audit.queries import FAMILIES
    from pro_app.audit.wording import ACTIONS
    from pro_app.visits.models import VisitStatus

    source = "\n".join(p.read_text(encoding="utf-8") for p in Path(pro_app.__file__).parent.rglob("*.py"))
    recorded = set(re.findall(r'action="([a-z_]+\.[a-z_]+)"', source))
    for pair in re.findall(r'action="([a-z_]+\.[a-z_]+)" if [^"\n]+ else "([a-z_]+\.[a-z_]+)"', source):
        recorded.update(pair)
    recorded |= {f"visit.{status.value}" for status in VisitStatus}
    assert {"visit.moved", "visit.shifted", "reply.sent", "thread.done", "export.downloaded"} <= recorded
    assert sorted(recorded - ACTIONS.keys()) == []
    assert sorted({action.partition(".")[0] for action in recorded} - set(FAMILIES)) == []


def test_a_csv_download_cut_short_is_audited_as_incomplete(app, client, events):
    response = client.get("/staff/audit/?participant=P-001&format=csv")
    first = next(iter(response.response))
    assert first.startswith(b"at_utc,at_local,actor,")
    response.close()  # the browser went away after the first piece
    with app.app_context():
        last = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
        assert last.action == "export.downloaded"
        assert (last.after["dataset"], last.after["complete"], last.after["rows"]) == ("audit", False, 0)


def test_the_csv_carries_no_phone_number_or_name(app, client, make_participant, login):
    from pro_app.sms.operations import opt_out

    make_participant("P-009", phone="+8613800138009")
    with app.app_context():
        opt_out(db.session, "+8613800138009", source="keyword", now=START)
        db.session.add(AuditEvent(at=START, actor="system", action="contact.changed", entity="contact", entity_id=1,
                                  before={"name": "王芳"}, after={"name": "李娜"}))
        db.session.commit()
        stored = " ".join(str(e.after) for e in db.session.scalars(select(AuditEvent)))
    assert "+8613800138009" in stored and "李娜" in stored  # the log itself holds them
    login("nurse")
    text = client.get("/staff/audit/?format=csv").get_data(as_text=True)
    assert "phone.opted_out" in text and "contact.changed" in text
    assert "13800138009" not in text and "王芳" not in text and "李娜" not in text
    assert "[removed]" in text
