"""pro-app demo: a small study to explore, with staff logins and families at every stage."""

import random
from datetime import UTC, datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select, update

from pro_app import alerts
from pro_app.alerts.models import ACTIVE, Alert
from pro_app.alerts.operations import acknowledge, assess_response, resolve
from pro_app.audit.operations import Actor
from pro_app.clock import to_local, utcnow
from pro_app.db import Base, db, upgrade
from pro_app.participants.models import ContactRole, Participant
from pro_app.participants.operations import enrol
from pro_app.participants.validation import CaregiverInput, Enrolment
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.answers import visible
from pro_app.questionnaires.models import Assignment
from pro_app.questionnaires.operations import plan_participant as plan_questionnaires
from pro_app.sms.models import Message
from pro_app.staff.cli import create_staff
from pro_app.staff.models import StaffUser
from pro_app.visits.models import VisitStatus

#: The demo's shared password: demo data only, refused unless SMS go to the console.
DEMO_PASSWORD = "demo-pro-app-2026"
DEMO_STAFF = [
    ("nurse@example.org", "nurse", "+8613800138100", True),
    ("investigator@example.org", "investigator", "+8613800138101", False),
    ("admin@example.org", "admin", None, False),
    ("monitor@example.org", "monitor", None, False),
]


#: The family whose phones always show an open questionnaire, and which one.
SHOWCASE = "DEMO-T02"
SHOWCASE_INSTRUMENT = "symptom-check"


def demo_enrolments(today):
    """Three families at different points of the schedule."""
    return [
        # An adult in the every-2-weeks phase.
        Enrolment("DEMO-A01", today - timedelta(days=66), "Asia/Shanghai", "zh-CN", 24,
                  "+8613800138001", []),
        # A teenager in the weekly phase, with a parent.
        Enrolment("DEMO-T02", today - timedelta(days=10), "Asia/Shanghai", "zh-CN", 15,
                  "+8613800138002", [CaregiverInput("+8613800138012", "zh-CN", "Mother", "Asia/Shanghai")]),
        # A young child answered by proxy, about to start; one caregiver abroad.
        Enrolment("DEMO-C03", today + timedelta(days=5), "Asia/Shanghai", "zh-CN", 5, None, [
            CaregiverInput("+8613800138013", "zh-CN", "Father", "Asia/Shanghai"),
            CaregiverInput("+447911123456", "en", "Aunt", "Europe/London"),
        ]),
    ]


def load_demo(session, protocol, instruments, now, public_url, alert_settings):
    """Create the demo staff and families; past visits are done, most past questionnaires answered."""
    actor = Actor(label="demo")
    for email, role, phone, on_call in DEMO_STAFF:
        create_staff(session, email, role, DEMO_PASSWORD, phone=phone, on_call=on_call,
                     language="zh-CN", actor=actor, now=now)
    today = to_local(now, protocol.timezone).date()
    rng = random.Random(2026)
    for enrolment in demo_enrolments(today):
        participant = enrol(session, enrolment, protocol, instruments, actor=actor, now=now, public_url=public_url)
        for visit in participant.visits:
            if visit.starts_at < now - timedelta(hours=12):
                visit.status = VisitStatus.DONE
        answer_the_past(session, participant, protocol, instruments, now, rng, settings=alert_settings,
                        public_url=public_url)
        if participant.study_id == SHOWCASE:
            plant_open_questionnaires(session, participant, protocol, instruments, now)
    triage_the_past(session, now)
    session.flush()


def plant_open_questionnaires(session, participant, protocol, instruments, now):
    """Give the showcase teenager and parent a symptom check open now, its link texted at once.

    Whatever the hour `make run` starts at, /dev/phone shows a questionnaire link for a patient
    and a caregiver: their invitations go even inside Shanghai's quiet hours (demo phones only).
    """
    planted = []
    for contact in participant.contacts:
        respondent = "self" if contact.role == ContactRole.PATIENT else "proxy"
        if respondent not in instruments[SHOWCASE_INSTRUMENT].respondents:
            continue
        assignment = Assignment(participant_id=participant.id, contact_id=contact.id, respondent=respondent,
                                instrument_id=SHOWCASE_INSTRUMENT, occasion="demo", opens_at=now,
                                closes_at=now + timedelta(days=3), created_at=now, updated_at=now)
        session.add(assignment)
        planted.append(assignment)
    session.flush()
    ops.queue_invitations(session, planted, protocol, instruments, now=now, key_suffix="-demo")
    session.execute(update(Message).where(Message.assignment_id.in_([a.id for a in planted]))
                    .values(ignore_quiet_hours=True).execution_options(synchronize_session=False))


def triage_the_past(session, now):
    """Have the demo nurse resolve episodes older than three days, as a real team would have."""
    nurse = session.scalar(select(StaffUser).where(StaffUser.email == DEMO_STAFF[0][0]))
    old = session.scalars(select(Alert).where(Alert.state.in_(ACTIVE), Alert.opened_at < now - timedelta(days=3))
                          .order_by(Alert.opened_at)).all()
    for alert in old:
        called = alert.opened_at + timedelta(hours=2)
        acknowledge(session, alert, nurse, called)
        resolve(session, alert, nurse, called + timedelta(minutes=20), action="called_patient",
                note="已电话随访，症状已缓解。 Called the family; symptoms settled.")


def answer_the_past(session, participant, protocol, instruments, now, rng, *, settings, public_url):
    """Give a participant who started before today a history: most windows answered, some missed."""
    since = datetime.combine(participant.start_date, datetime.min.time(), tzinfo=UTC) - timedelta(days=10)
    plan_questionnaires(session, participant, protocol, instruments, now=now, since=since)
    past = session.scalars(select(Assignment).where(Assignment.participant_id == participant.id,
                                                    Assignment.closes_at <= now)).all()
    for assignment in past:
        if rng.random() < 0.15:
            continue  # missed: the next tick marks it expired
        instrument = instruments[assignment.instrument_id]
        answered_at = min(assignment.opens_at + timedelta(hours=rng.randint(1, 20)),
                          assignment.closes_at - timedelta(minutes=5))
        draft = ops.open_draft(session, assignment, instrument, answered_at)
        draft.answers = plausible_answers(instrument, rng)
        if assignment.instrument_id == "post-infusion" and assignment is past[-1]:
            draft.answers["temperature"] = 38.6  # the demo's open red alert: a fever after an infusion
        response = ops.submit(session, assignment, draft, instrument, draft.submit_key, answered_at)
        assess_response(session, response, instrument, now=answered_at, settings=settings,
                        public_url=public_url, protocol=protocol)


def plausible_answers(instrument, rng):
    """Answer an instrument the way a mostly well participant might (demo data only)."""
    # Mostly well: an answer that a red rule would send to the emergency department is never
    # picked (the demo's one red alert is set on purpose), and one an amber rule watches only
    # now and then, so the demo worklist reads like a real week, not a flood.
    red = {(r.when.item, v) for r in instrument.alerts if r.when is not None and r.severity == "red"
           for v in r.when.values}
    amber = {(r.when.item, v) for r in instrument.alerts if r.when is not None and r.severity == "amber"
             for v in r.when.values}
    answers = {}
    for item in instrument.items():
        if not visible(item, answers):
            continue
        if item.type == "single":
            values = [v for v, _label in item.choices if (item.id, v) not in red
                      and ((item.id, v) not in amber or rng.random() < 0.03)]
            answers[item.id] = values[min(len(values) - 1, int(rng.expovariate(1.5)))]
        elif item.type == "yesno":
            answers[item.id] = (rng.random() < 0.1 and not item.red_flag and (item.id, True) not in red
                                and ((item.id, True) not in amber or rng.random() < 0.2))
        elif item.type == "rating":
            answers[item.id] = rng.randint(6, 9)
        elif item.type == "number" and item.unit == "temperature":
            answers[item.id] = round(rng.uniform(36.3, 37.4), 1)
        elif item.type == "number":
            answers[item.id] = item.min
        elif item.type == "multiple" and item.required:
            answers[item.id] = [item.choices[0][0]]
    return answers


@click.command("demo")
@with_appcontext
@click.option("--reset", is_flag=True, help="Drop every table and load the demo afresh.")
def demo_command(reset):
    """Load the demo study (console SMS backend only)."""
    if current_app.config["SMS_BACKEND"] != "console":
        raise click.ClickException("the demo loads only with PRO_SMS_BACKEND=console")
    if reset:
        with db.engine.begin() as connection:
            Base.metadata.drop_all(connection)
            connection.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        db.session.remove()
        upgrade(db.engine)
    if db.session.scalar(select(Participant.id).where(Participant.study_id.like("DEMO-%")).limit(1)):
        click.echo("demo study already loaded")
    else:
        load_demo(db.session, current_protocol(), current_instruments(), utcnow(), current_app.config["PUBLIC_URL"],
                  alerts.settings(current_app.config))
        db.session.commit()
        click.echo("demo study loaded: DEMO-A01 (adult), DEMO-T02 (teenager + parent), "
                   "DEMO-C03 (child, by proxy)")
    click.echo(f"staff login: nurse@example.org / {DEMO_PASSWORD}  "
               f"(also investigator@, admin@, monitor@example.org)")


def init_app(app):
    # Demo accounts share a published password: the command exists only in demo mode.
    if app.config["DEMO"]:
        app.cli.add_command(demo_command)
