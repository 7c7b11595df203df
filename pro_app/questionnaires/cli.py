"""pro-app questionnaires check: validate instrument files."""

from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from pro_app.questionnaires.instruments import check_file, instrument_files


@click.group("questionnaires", cls=AppGroup)
def questionnaires_cli():
    """Work with questionnaire instruments."""


@questionnaires_cli.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def check_command(paths):
    """Check instrument files (default: every shipped and local one); errors name file, item and reason."""
    from pro_app.questionnaires import instrument_folders

    folders = [p for p in paths if Path(p).is_dir()] if paths else instrument_folders(current_app)
    files = [Path(p) for p in paths if Path(p).is_file()] + instrument_files(folders)
    if not files:
        raise click.ClickException("no instrument files found")
    failed = 0
    seen = {}
    for path in files:
        instrument, errors = check_file(path)
        if instrument is not None and instrument.id in seen:
            errors = [f"{path}: id: instrument id {instrument.id!r} is also used by {seen[instrument.id]}"]
        if errors:
            failed += 1
            for error in errors:
                click.echo(str(error), err=True)
            continue
        seen[instrument.id] = path
        click.echo(f"ok  {path}  {instrument.id} version {instrument.version[:12]}, "
                   f"{len(instrument.items())} items, {len(instrument.scores)} scores, {len(instrument.alerts)} alerts")
    if failed:
        raise click.ClickException(f"{failed} of {len(files)} instrument file(s) have errors")
