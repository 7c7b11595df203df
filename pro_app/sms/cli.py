"""`pro-app sms templates check|export` and `pro-app sms routes restart`."""

import click
from flask import current_app
from flask.cli import AppGroup

from pro_app.datafiles import DataFileError

sms_cli = AppGroup("sms", help="Texts: provider templates and routes.")
templates_cli = AppGroup("templates", help="Approved provider templates for every kind of text.")
routes_cli = AppGroup("routes", help="Provider routes stopped by the provider's refusals.")
sms_cli.add_command(templates_cli)
sms_cli.add_command(routes_cli)


def _load(path):
    from pro_app.sms.templates import TemplateSet

    try:
        return TemplateSet(path or current_app.config.get("SMS_TEMPLATES_FILE"))
    except DataFileError as exc:
        raise click.ClickException(str(exc)) from None


def _context():
    from pro_app.protocol import current_protocol

    protocol = current_protocol()
    config = current_app.config
    return {"public_url": config["PUBLIC_URL"], "site_phone": protocol.site_phone,
            "sign_name": config.get("ALIYUN_SIGN_NAME") or protocol.site_name["zh-CN"]}


@templates_cli.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
def check_command(path):
    """Check the template file: every kind and language, variables, lengths, links."""
    from pro_app.sms.templates import check

    templates = _load(path)
    errors = check(templates, **_context())
    for error in errors:
        click.echo(str(error), err=True)
    if errors:
        raise click.exceptions.Exit(1)
    count = sum(1 for entry in templates.kinds.values() for key in entry if key != "variables")
    click.echo(f"{templates.path}: {count} templates OK")


@templates_cli.command("export")
@click.argument("path", required=False, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["csv", "markdown"]), default="markdown", show_default=True)
@click.option("--out", type=click.File("w", encoding="utf-8"), default="-")
def export_command(path, fmt, out):
    """Write every wording in the form a provider's approval asks for."""
    from pro_app.sms.templates import export

    out.write(export(_load(path), fmt, **_context()))


@routes_cli.command("restart")
@click.argument("route")
def restart_command(route):
    """Let texts flow again on a stopped route (after topping up or approval)."""
    from pro_app.audit.operations import Actor
    from pro_app.clock import utcnow
    from pro_app.db import db
    from pro_app.sms.routing import restart_route

    if not restart_route(db.session, route, actor=Actor(label="cli"), now=utcnow()):
        raise click.ClickException(f"route {route} is not stopped")
    db.session.commit()
    click.echo(f"route {route} restarted")
