"""Visit reminders, the welcome text and the families' visit calendars."""


def init_app(app):
    from pro_app.reminders import calendar
    from pro_app.reminders.operations import shorten_tokens

    app.register_blueprint(calendar.bp)
    # Staff pages never show a whole link token, even where the demo's outbox keeps one.
    app.add_template_filter(shorten_tokens)
