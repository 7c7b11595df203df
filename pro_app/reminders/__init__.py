"""Visit reminders, the welcome text, the families' visit calendars and their reminder preferences."""


def init_app(app):
    from pro_app.reminders import calendar, preferences_views
    from pro_app.reminders.operations import shorten_tokens

    app.register_blueprint(calendar.bp)
    app.register_blueprint(preferences_views.bp)
    # Staff pages never show a whole link token, even where the demo's outbox keeps one.
    app.add_template_filter(shorten_tokens)
