"""The pro-app command line (the same commands as `flask --app wsgi`)."""

import click
from flask.cli import FlaskGroup, with_appcontext


def _create_app():
    import sys

    from pro_app import create_app
    from pro_app.config import ConfigError

    try:
        return create_app()
    except ConfigError as exc:
        # A setting to fix, not a bug: say which, without a traceback.
        click.secho(f"Error: {exc}", err=True, fg="red")
        sys.exit(2)


main = FlaskGroup(create_app=_create_app, help="pro_app: PRO questionnaires and SMS reminders.")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host, port):
    """Serve the app for development, with the scheduler in the same process."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from flask import current_app
    from werkzeug.serving import run_simple

    from pro_app.scheduler import make_scheduler

    app = current_app._get_current_object()
    scheduler = make_scheduler(app, BackgroundScheduler)
    scheduler.start()
    click.echo(f"serving on http://{host}:{port} with the scheduler  (Ctrl-C to stop)")
    try:
        run_simple(host, port, app, threaded=True, use_reloader=False)
    finally:
        scheduler.shutdown(wait=False)


def init_app(app):
    app.cli.add_command(serve_command)
