"""Texts: the outbox, gateways, webhooks, replies and the staff pages about them."""


def init_app(app):
    from pro_app.sms import devphone, views, webhooks

    app.register_blueprint(webhooks.bp)
    app.register_blueprint(views.bp)
    devphone.init_app(app)
