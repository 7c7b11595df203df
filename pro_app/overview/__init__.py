"""The study overview for investigators and the nurse lead: enrolment, visits, completion, alerts."""


def init_app(app):
    from pro_app.overview import views

    app.register_blueprint(views.bp)
