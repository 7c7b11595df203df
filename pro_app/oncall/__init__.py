"""The on-call rota: shifts per nurse, who gets red alerts now, and gaps ahead."""


def init_app(app):
    from pro_app.oncall import cli, views

    app.register_blueprint(views.bp)
    app.cli.add_command(cli.oncall_cli)
