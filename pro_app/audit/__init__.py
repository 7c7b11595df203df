"""The append-only audit log."""


def init_app(app):
    from pro_app.audit import views

    app.register_blueprint(views.bp)
