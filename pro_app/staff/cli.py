"""pro-app staff ...: manage staff accounts."""

import click
from flask.cli import AppGroup
from flask_babel import force_locale
from sqlalchemy import func, select

from pro_app.audit.operations import Actor, record
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.participants.validation import normalise_phone
from pro_app.staff.auth import MIN_PASSWORD_LENGTH, hash_password
from pro_app.staff.models import StaffRole, StaffUser


@click.group("staff", cls=AppGroup)
def staff_cli():
    """Manage staff accounts."""


def create_staff(session, email, role, password, *, phone=None, on_call=False, language="zh-CN",
                 actor, now):
    """Store a new staff account; flush, don't commit."""
    user = StaffUser(
        email=email.strip().lower(), password_hash=hash_password(password), role=StaffRole(role),
        phone=phone, on_call=on_call, language=language, created_at=now,
    )
    session.add(user)
    session.flush()
    record(session, actor=actor, action="staff.created", entity="staff_user", entity_id=user.id,
           now=now, after={"email": user.email, "role": user.role.value, "on_call": on_call})
    return user


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice([r.value for r in StaffRole]))
@click.option("--phone", help="Mobile number in E.164 form, for alert SMS.")
@click.option("--on-call", is_flag=True, help="Receives red-alert SMS.")
@click.option("--lang", default="zh-CN", type=click.Choice(["zh-CN", "en"]))
@click.password_option(prompt="Password", confirmation_prompt="Repeat the password")
def create_command(email, role, phone, on_call, lang, password):
    """Create a staff account (the password is asked twice)."""
    if "@" not in email or len(email) > 254:
        raise click.BadParameter(f"{email!r} is not an email address", param_hint="EMAIL")
    if db.session.scalar(select(StaffUser.id).where(func.lower(StaffUser.email) == email.lower())):
        raise click.ClickException(f"a staff account for {email} already exists")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise click.ClickException(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if phone:
        with force_locale("en"):
            try:
                phone = normalise_phone(phone)
            except ValueError as exc:
                raise click.BadParameter(str(exc.args[0]), param_hint="--phone") from None
    user = create_staff(db.session, email, role, password, phone=phone, on_call=on_call,
                        language=lang, actor=Actor.command_line(), now=utcnow())
    db.session.commit()
    click.echo(f"created {user.role.value} {user.email}")
