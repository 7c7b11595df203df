"""pro-app oncall ...: the on-call rota from the command line."""

from datetime import datetime, time, timedelta

import click
from flask import current_app
from flask.cli import AppGroup

from pro_app.audit.operations import Actor
from pro_app.clock import local_to_utc, to_local, utcnow
from pro_app.db import db
from pro_app.oncall.models import Shift
from pro_app.oncall.operations import ShiftError, add_shift, next_gap, remove_shift, shifts_between
from pro_app.staff.cli import account_named


@click.group("oncall", cls=AppGroup)
def oncall_cli():
    """Manage the on-call rota (times are on the study zone's clock unless they carry an offset)."""


def parse_instant(text, zone):
    """Read 'YYYY-MM-DD HH:MM' on the study clock, or an ISO 8601 instant with an offset."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a date and time like 2026-03-02 08:00") from None
    if parsed.tzinfo is None:
        return local_to_utc(parsed.date(), time(parsed.hour, parsed.minute), zone)
    return parsed


@oncall_cli.command("add")
@click.argument("email")
@click.option("--start", required=True, help="Start, e.g. '2026-03-02 08:00' (study zone).")
@click.option("--end", required=True, help="End, e.g. '2026-03-02 20:00' (study zone).")
def add_command(email, start, end):
    """Put a nurse on call from START to END."""
    zone = current_app.config["TIMEZONE"]
    user = account_named(email)
    try:
        shift = add_shift(db.session, user, parse_instant(start, zone), parse_instant(end, zone),
                          actor=Actor.command_line(), now=utcnow())
    except ShiftError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"shift {shift.id}: {_line(shift, zone)}")


def _line(shift, zone):
    fmt = "%Y-%m-%d %H:%M"
    return (f"{shift.staff.email} on call {to_local(shift.starts_at, zone).strftime(fmt)} - "
            f"{to_local(shift.ends_at, zone).strftime(fmt)} ({zone})")


@oncall_cli.command("list")
@click.option("--days", default=14, show_default=True, type=click.IntRange(1, 366))
def list_command(days):
    """List the shifts from now on, and the first gap in the next 24 hours."""
    zone = current_app.config["TIMEZONE"]
    now = utcnow()
    for shift in shifts_between(db.session, now, now + timedelta(days=days)):
        click.echo(f"{shift.id}\t{_line(shift, zone)}")
    gap = next_gap(db.session, now)
    if gap is not None:
        start = to_local(max(gap[0] or now, now), zone).strftime("%Y-%m-%d %H:%M")
        click.echo(f"warning: no one on call from {start} ({zone})")


@oncall_cli.command("remove")
@click.argument("shift_id", type=int)
def remove_command(shift_id):
    """Take a shift off the rota."""
    shift = db.session.get(Shift, shift_id)
    if shift is None:
        raise click.ClickException(f"no shift {shift_id}")
    remove_shift(db.session, shift, actor=Actor.command_line(), now=utcnow())
    db.session.commit()
    click.echo(f"removed shift {shift_id}")
