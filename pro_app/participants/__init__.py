"""Participants, their contacts and enrolment."""


def init_app(app):
    from pro_app.participants import cli, views

    app.register_blueprint(views.bp)
    app.cli.add_command(cli.participant_cli)
