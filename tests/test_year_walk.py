"""Acceptance: a whole 52-week protocol for three families, ticking every 15 simulated minutes.

Invitations due at the same moment for one contact go as one text naming them, with one link.

Ticks at instants where nothing is due change nothing, so the walk ticks only on the 15-minute
marks at or after each due text (a text the dispatcher holds gets a new due time and is met on a
later mark): the same texts at the same marks as a tick every 15 minutes, in a few seconds.
"""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.participants.models import Contact, Participant
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires.invitations import TOGETHER
from pro_app.reminders.quiet import in_quiet_hours
from pro_app.sms.models import Message, MessageState
from pro_app.visits.models import OPEN_STATUSES, Visit, VisitKind
from pro_app.visits.operations import move_visit

STEP = timedelta(minutes=15)
START = date(2026, 1, 12)
ENROLLED = datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
FAMILIES = {
    "NY-1": ("America/New_York", "en", "+12125550101", [("zh-CN", "+12125550102"), ("en", "+12125550103")]),
    "SH-1": ("Asia/Shanghai", "zh-CN", "+8613800138101", [("en", "+8613800138102"), ("zh-CN", "+8613800138103")]),
    "LN-1": ("Europe/London", "en", "+447911100101", [("zh-CN", "+447911100102"), ("en", "+447911100103")]),
}
QUIET = (time(21), time(8))


def mark(instant):
    """Round up to the scheduler's next 15-minute mark."""
    seconds = instant.timestamp()
    return datetime.fromtimestamp(-(-seconds // STEP.total_seconds()) * STEP.total_seconds(), UTC)


def next_due(after):
    return db.session.scalar(select(func.min(Message.due_at)).where(
        Message.state == MessageState.PENDING, Message.due_at > after - STEP))


def test_a_year_for_three_families(app, make_participant, tick):
    for study_id, (tz, lang, phone, carers) in FAMILIES.items():
        make_participant(study_id, start=START, tz=tz, lang=lang, age="15", phone=phone, now=ENROLLED,
                         caregivers=[{"phone": p, "lang": cl, "tz": tz, "name": f"Carer {i}"}
                                     for i, (cl, p) in enumerate(carers)])
    end = datetime.combine(START + timedelta(weeks=53), time(), UTC)
    moved_at = moved_id = None
    now = mark(ENROLLED)
    while now < end:
        tick(now)
        if moved_at is None and now >= datetime(2026, 3, 20, 14, 0, tzinfo=UTC):
            # 22:00 in Shanghai: a nurse moves dose 12 by two days and tells the family.
            moved_at = now
            with app.test_request_context():
                visit = db.session.scalar(select(Visit).join(Participant).where(
                    Participant.study_id == "SH-1", Visit.protocol_key == "infusion-12"))
                moved_id = visit.id
                move_visit(db.session, visit, visit.local_start.date() + timedelta(days=2), time(8, 30),
                           shift_later=False, shift_other_kinds=False, reason="Delayed", tell_family=True,
                           actor=Actor(label="test"), now=now, protocol=current_protocol(),
                           instruments=current_instruments())
                db.session.commit()
        with app.app_context():
            due = next_due(now + STEP)
        if due is None:
            break
        now = max(mark(due), now + STEP)

    with app.app_context():
        sent = db.session.scalars(select(Message).where(Message.state == MessageState.SENT)
                                  .order_by(Message.sent_at)).all()
        contacts = {c.phone: c for c in db.session.scalars(select(Contact))}
        assert len(sent) > 1000

        # 0 identical texts to one number within 24 h.
        last = {}
        for m in sent:
            key = (m.to_phone, m.body)
            assert key not in last or m.sent_at - last[key] >= timedelta(hours=24), m.body
            last[key] = m.sent_at

        # Invitations due together for one contact went as one text naming them all, with one link.
        invites = [m for m in sent if m.template in ("questionnaire_invite", TOGETHER)]
        moments = [(m.to_phone, m.sent_at) for m in invites]
        assert len(moments) == len(set(moments))
        together = {m.id: m for m in invites if m.template == TOGETHER}
        assert len(together) >= 3 * 12  # quality of life opens with the symptom check every 4 weeks, at least
        merged = db.session.scalars(select(Message).where(Message.state == MessageState.CANCELLED,
                                                          Message.state_reason.startswith("sent together"))).all()
        assert len(merged) >= len(together)
        for m in merged:
            carrier = together[int(m.state_reason.rsplit(" ", 1)[1])]
            assert carrier.to_phone == m.to_phone and m.assignment_id in carrier.params["assignments"]
            assert m.params["title"] in carrier.body and carrier.body.count("/q/") == 1
        for m in together.values():
            assert int(m.params["count"]) == len(m.params["assignments"]) >= 2

        # No text between 21:00 and 08:00 local, except the 07:00 morning reminder.
        for m in sent:
            c = contacts[m.to_phone]
            local = m.sent_at.astimezone(ZoneInfo(c.timezone))
            if m.dedupe_key.endswith(":morning"):
                assert local.time() == time(7, 0), m.dedupe_key
            else:
                assert not in_quiet_hours(local.time(), *QUIET), (m.dedupe_key, local)

        # Every visit gets exactly its planned reminders: three per contact, of its current revision.
        reminders = {}
        for m in sent:
            if m.template == "visit_reminder":
                reminders.setdefault((m.visit_id, m.contact_id), []).append(m.dedupe_key)
        visits = db.session.scalars(select(Visit).where(Visit.status.in_(OPEN_STATUSES),
                                                        Visit.starts_at > ENROLLED + timedelta(days=3))).all()
        assert len(visits) >= 3 * 29  # every visit but perhaps a screening aspirate days after enrolment
        for v in visits:
            for c in v.participant.contacts:
                keys = reminders.get((v.id, c.id), [])
                assert sorted(k.rsplit(":", 1)[1] for k in keys) == ["1d", "2d", "morning"], (v.protocol_key, c.phone)
                assert all(f":r{v.revision}:" in k for k in keys)
        assert sum(1 for v in visits if v.kind == VisitKind.MARROW) > 0

        # The move sends one change text per contact, at the first allowed mark (08:00 Shanghai).
        changes = [m for m in sent if m.template == "visit_moved"]
        assert sorted(m.to_phone for m in changes) == sorted([FAMILIES["SH-1"][2], *(p for _, p in
                                                                                       FAMILIES["SH-1"][3])])
        assert {m.sent_at for m in changes} == {datetime(2026, 3, 21, 0, 0, tzinfo=UTC)}
        assert all(m.visit_id == moved_id for m in changes)
