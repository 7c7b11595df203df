"""Consent: what each participant and contact agreed to, withdrawals, and re-consent at 14 and 18."""


def init_app(app):
    from pro_app.consent import views

    app.register_blueprint(views.bp)
