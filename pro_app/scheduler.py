"""Ticks: every piece of due work run once as of `now`, by cron, tests or the scheduler process."""

import logging
import signal
from datetime import datetime, timedelta

import click
from flask import current_app
from flask.cli import with_appcontext

from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.sms.gateway import current_gateway

log = logging.getLogger(__name__)


def run_tick(now, worker=None):
    """Run every due piece of work once as of `now`; return a one-line summary.

    `worker` marks the claims of a long-lived process (workers.worker_id), freed at once if it dies.
    """
    from pro_app import alerts
    from pro_app.alerts.operations import escalate, missed_questionnaires
    from pro_app.oncall.operations import warn_of_gap
    from pro_app.questionnaires.operations import expire_windows
    from pro_app.sms.dispatch import dispatch

    config = current_app.config
    context = alerts.context()
    expired = expire_windows(db.session, now)
    missed_questionnaires(db.session, expired, now=now, **context)
    escalated = escalate(db.session, now=now, **context)
    warn_of_gap(db.session, now, protocol=context["protocol"], public_url=context["public_url"])
    db.session.commit()
    summary = dispatch(
        db.session, current_gateway(), now=now,
        public_url=context["public_url"],
        rate=float(config["SMS_RATE"] or 0),
        batch=int(config["SMS_BATCH"]),
        lease=timedelta(seconds=float(config["SMS_CLAIM_LEASE_SECONDS"])),
        worker=worker,
        concurrency=int(config["SMS_CONCURRENCY"]),
    )
    summary.add("questionnaires expired", len(expired))
    summary.add("alerts escalated", escalated)
    return f"tick {now.isoformat(timespec='seconds')}: {summary}"


def _parse_now(_ctx, _param, value):
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 instant (e.g. 2026-03-01T10:00:00Z)") from None
    if parsed.tzinfo is None:
        raise click.BadParameter("give a zone offset or Z, e.g. 2026-03-01T10:00:00+08:00")
    return parsed


@click.command("tick")
@click.option("--now", callback=_parse_now, help="Run as of this instant (ISO 8601 with offset).")
@with_appcontext
def tick_command(now):
    """Run every due piece of work once and print a one-line summary."""
    from pro_app.sms.dispatch import STOPPING
    from pro_app.sms.workers import worker_id

    # SIGTERM: finish the text in hand and hand the rest back before exiting.
    signal.signal(signal.SIGTERM, lambda *_: STOPPING.set())
    click.echo(run_tick(now or utcnow(), worker=worker_id(db.session)))


def _tick_job(app):
    from pro_app.sms.workers import worker_id

    with app.app_context():
        try:
            summary = run_tick(utcnow(), worker=worker_id(db.session))
        except Exception:
            log.exception("tick failed")
            db.session.rollback()
            return
        if "nothing due" not in summary:
            log.info(summary)


def make_scheduler(app, scheduler_cls):
    """Build an APScheduler that runs the tick every few seconds, never two at once."""
    scheduler = scheduler_cls(timezone="UTC")
    interval = float(app.config["SCHEDULER_INTERVAL_SECONDS"])
    scheduler.add_job(
        _tick_job, "interval", args=[app], seconds=interval, id="tick", next_run_time=utcnow(),
        max_instances=1,  # a slow tick is never overlapped by the next one
        coalesce=True,  # after a pause, run once rather than once per missed interval
        misfire_grace_time=max(1, int(interval * 2)),
    )
    return scheduler


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the scheduler process: the tick every few seconds until stopped."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    from pro_app.sms.dispatch import STOPPING

    app = current_app._get_current_object()
    scheduler = make_scheduler(app, BlockingScheduler)
    def stop(*_):
        STOPPING.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    click.echo(f"scheduler: ticking every {app.config['SCHEDULER_INTERVAL_SECONDS']} s (Ctrl-C to stop)")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass


def init_app(app):
    app.cli.add_command(tick_command)
    app.cli.add_command(scheduler_command)
