"""Staff accounts, login and roles."""

from pro_app.extensions import login_manager


def init_app(app):
    from flask_babel import lazy_gettext as _l

    from pro_app.staff import admin_views, auth, cli, signin_views, views  # noqa: F401 (signin_views adds routes)

    login_manager.init_app(app)
    login_manager.login_view = "staff.login"
    login_manager.login_message = _l("Please log in to see this page.")
    login_manager.session_protection = "strong"
    login_manager.user_loader(auth.load_user)
    app.before_request(auth.keep_alive)
    app.register_blueprint(views.bp)
    app.register_blueprint(admin_views.bp)
    app.cli.add_command(cli.staff_cli)
