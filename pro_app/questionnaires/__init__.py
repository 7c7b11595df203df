"""Questionnaires: instruments as data, assignments, the respondent's pages, responses."""

from pathlib import Path

from flask import current_app

from pro_app import ROOT, is_checkout, resource_folder
from pro_app.questionnaires.instruments import InstrumentError, load_instruments, wording
from pro_app.questionnaires.schedule import occasion_label


def instrument_folders(app):
    """Return the folders instruments load from: the shipped ones and a site's local ones."""
    configured = app.config.get("QUESTIONNAIRE_DIRS")
    if configured:
        return [p for p in str(configured).split(":") if p]
    # A site's licensed instruments are never in the wheel: beside the checkout's shipped ones
    # (git-ignored), or in the instance folder of an installed app.
    local = ROOT / "questionnaires" / "local" if is_checkout() else Path(app.instance_path) / "questionnaires"
    return [str(resource_folder("questionnaires")), str(local)]


def init_app(app):
    """Load the instruments once and check that the protocol names only existing ones."""
    from pro_app.questionnaires import cli, report_views, staff_views, views

    instruments = load_instruments(instrument_folders(app))
    protocol = app.extensions["pro_protocol"]
    for entry in protocol.questionnaires:
        if entry.instrument not in instruments:
            raise InstrumentError(protocol.source, None, "questionnaires.schedule",
                                  f"no instrument {entry.instrument!r} in {', '.join(instrument_folders(app))}")
    app.extensions["pro_instruments"] = instruments
    app.add_template_global(wording, "wording")
    app.add_template_global(occasion_label, "occasion_label")
    report_views.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(staff_views.bp)
    app.cli.add_command(cli.questionnaires_cli)


def current_instruments():
    """Return {instrument id: Instrument} for this app."""
    return current_app.extensions["pro_instruments"]
