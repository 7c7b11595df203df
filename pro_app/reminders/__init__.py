"""Visit reminders, the welcome text and the families' visit calendars."""


def init_app(app):
    from pro_app.reminders import calendar

    app.register_blueprint(calendar.bp)
