"""Study data exports: tidy tables, FHIR, CDISC ODM, compliance and the codebook, streamed and audited."""


def init_app(app):
    from pro_app.exports import cli, views

    app.register_blueprint(views.bp)
    app.cli.add_command(cli.export_cli)
