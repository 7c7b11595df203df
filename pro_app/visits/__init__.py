"""Study visits and the staff changes to them."""


def init_app(app):
    from pro_app.visits import views

    app.register_blueprint(views.bp)
