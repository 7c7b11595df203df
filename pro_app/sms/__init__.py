"""Texts: the outbox, gateways, webhooks, replies and the staff pages about them."""


def init_app(app):
    from pro_app.sms import aliyun_push, cli, devphone, routing, views, webhooks

    app.register_blueprint(webhooks.bp)
    app.register_blueprint(aliyun_push.bp)
    app.cli.add_command(cli.sms_cli)
    routing.init_app(app)
    app.register_blueprint(views.bp)
    devphone.init_app(app)
