"""pro-app staff ...: manage staff accounts."""

import click
from flask.cli import AppGroup
from flask_babel import force_locale

from pro_app.audit.operations import Actor, record
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.participants.validation import normalise_phone
from pro_app.staff.auth import hash_password, staff_by_email
from pro_app.staff.models import StaffRole, StaffUser
from pro_app.staff.passwords import password_problem
from pro_app.staff.sessions import revoke_all


@click.group("staff", cls=AppGroup)
def staff_cli():
    """Manage staff accounts."""


def create_staff(session, email, role, password, *, phone=None, on_call=False, language="zh-CN",
                 nurse_lead=False, actor, now):
    """Store a new staff account; flush, don't commit."""
    user = StaffUser(
        email=email.strip().lower(), password_hash=hash_password(password), role=StaffRole(role),
        phone=phone, on_call=on_call, language=language, nurse_lead=nurse_lead, created_at=now,
    )
    session.add(user)
    session.flush()
    record(session, actor=actor, action="staff.created", entity="staff_user", entity_id=user.id,
           now=now, after={"email": user.email, "role": user.role.value, "on_call": on_call,
                           "nurse_lead": nurse_lead})
    return user


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in StaffRole]))
@click.option("--phone", help="Mobile number in E.164 form, for alert SMS.")
@click.option("--on-call", is_flag=True, help="Receives red-alert SMS when no one is on the rota's shift.")
@click.option("--nurse-lead", is_flag=True, help="Is texted about gaps in the on-call rota.")
@click.option("--lang", default="zh-CN", type=click.Choice(["zh-CN", "en"]))
@click.password_option(prompt="Password", confirmation_prompt="Repeat the password")
def create_command(email, role, phone, on_call, nurse_lead, lang, password):
    """Create a staff account (the password is asked twice)."""
    if "@" not in email or len(email) > 254:
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="EMAIL")
    if staff_by_email(db.session, email) is not None:
        raise click.ClickException(f"a staff account for {email} already exists")
    _check_password(password, email)
    if phone:
        with force_locale("en"):
            try:
                phone = normalise_phone(phone)
            except ValueError as exc:
                raise click.BadParameter(str(exc.args[0]), param_hint="--phone") from None
    user = create_staff(db.session, email, role, password, phone=phone, on_call=on_call,
                        language=lang, nurse_lead=nurse_lead, actor=Actor.command_line(), now=utcnow())
    db.session.commit()
    click.echo(f"created {user.role.value} {user.email}")


def change_password(session, user, password, *, actor, now):
    """Set a new password and end every session of the account; flush, don't commit."""
    user.password_hash = hash_password(password)
    ended = revoke_all(session, user.id, now)
    record(session, actor=actor, action="staff.password_changed", entity="staff_user", entity_id=user.id,
           now=now, after={"sessions_ended": ended})
    return ended


def deactivate_staff(session, user, *, actor, now):
    """Close an account: no more logins, no more alert texts, every session ended; flush, don't commit."""
    before = {"active": user.active, "on_call": user.on_call}
    user.active = False
    user.on_call = False
    ended = revoke_all(session, user.id, now)
    record(session, actor=actor, action="staff.deactivated", entity="staff_user", entity_id=user.id, now=now,
           before=before, after={"active": False, "on_call": False, "sessions_ended": ended})
    return ended


def _check_password(password, email):
    with force_locale("en"):
        problem = password_problem(password, email)
    if problem:
        raise click.ClickException(f"refused: {problem}")


def account_named(email):
    """Return the staff account with this email, or stop the command saying there is none."""
    user = staff_by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"no staff account for {email}")
    return user


@staff_cli.command("password")
@click.argument("email")
@click.password_option(prompt="New password", confirmation_prompt="Repeat the password")
def password_command(email, password):
    """Set a staff member's password (asked twice); every session of the account ends."""
    user = account_named(email)
    _check_password(password, user.email)
    ended = change_password(db.session, user, password, actor=Actor.command_line(), now=utcnow())
    db.session.commit()
    click.echo(f"password changed for {user.email}; {ended} session(s) ended")


@staff_cli.command("deactivate")
@click.argument("email")
def deactivate_command(email):
    """Close a staff account: it can no longer log in, and every session of it ends."""
    user = account_named(email)
    ended = deactivate_staff(db.session, user, actor=Actor.command_line(), now=utcnow())
    db.session.commit()
    click.echo(f"deactivated {user.email}; {ended} session(s) ended")
