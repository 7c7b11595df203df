"""The pro-app command line (the same commands as `flask --app wsgi`)."""

import click
from flask.cli import FlaskGroup, with_appcontext


def _create_app():
    from pro_app import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, help="pro_app: PRO questionnaires and SMS reminders.")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@with_appcontext
def serve_command(host, port):
    """Serve the app for development (one process)."""
    from flask import current_app

    click.echo(f"serving on http://{host}:{port}  (Ctrl-C to stop)")
    current_app.run(host=host, port=port, debug=False, use_reloader=False, threaded=True)


def init_app(app):
    app.cli.add_command(serve_command)
