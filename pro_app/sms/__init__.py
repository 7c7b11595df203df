"""Texts: the outbox, gateways, webhooks, replies and the staff pages about them."""


def init_app(app):
    from pro_app.sms import devphone, views, webhooks

    app.register_blueprint(webhooks.bp)
    app.register_blueprint(views.bp)
    if app.config["SMS_BACKEND"] == "console":
        app.register_blueprint(devphone.bp)
