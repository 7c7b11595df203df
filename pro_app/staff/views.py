"""Staff login and logout."""

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from pro_app import ratelimits
from pro_app.audit.operations import Actor
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.extensions import limiter
from pro_app.i18n import safe_next
from pro_app.staff import sessions
from pro_app.staff.auth import authenticate, staff_required, verify_password
from pro_app.staff.cli import change_password
from pro_app.staff.forms import LoginForm, PasswordForm

bp = Blueprint("staff", __name__, url_prefix="/staff")


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return redirect(url_for("staff.login"))
    return redirect(url_for("alerts.index"))


@bp.route("/login", methods=["GET", "POST"])
# Failed attempts count per address (no spraying many accounts) and per account tried (no
# guessing one account's password from many addresses, without locking anyone else out).
@limiter.limit(ratelimits.login_per_address, methods=["POST"], deduct_when=ratelimits.failed)
@limiter.limit(ratelimits.login_per_account, methods=["POST"], key_func=ratelimits.account_tried,
               deduct_when=ratelimits.failed)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data, form.password.data)
        if user is None:
            form.password.errors.append(_("Email or password is not right."))
        else:
            now = utcnow()
            _start_session(user, now)
            user.last_login_at = now
            db.session.commit()
            login_user(user)
            return redirect(safe_next(request.args.get("next"), url_for("staff.home")), code=303)
    return render_template("staff/login.html", form=form), 200 if not form.errors else 400


def _start_session(user, now):
    """Give this browser a fresh staff session (new key, nothing of the old cookie kept but the language)."""
    lang = session.get("lang")
    session.clear()  # no fixation: whatever the browser held before is gone
    if lang:
        session["lang"] = lang
    # Error pages shown while the database is down still speak the staff member's language.
    session["staff_lang"] = user.language
    session[sessions.SESSION_KEY] = sessions.start(
        db.session, user, now=now, lifetime=timedelta(hours=current_app.config["STAFF_SESSION_HOURS"]),
        user_agent=request.user_agent.string, ip_address=request.remote_addr)


@bp.route("/password", methods=["GET", "POST"])
@staff_required()
@limiter.limit(ratelimits.login_per_address, methods=["POST"], deduct_when=ratelimits.failed)
def password():
    """Change one's own password; every session of the account ends, this browser gets a new one."""
    form = PasswordForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if not verify_password(user, form.current.data):
            form.current.errors.append(_("The current password is not right."))
        else:
            now = utcnow()
            change_password(db.session, user, form.new.data, actor=Actor.staff(user), now=now)
            _start_session(user, now)
            db.session.commit()
            login_user(user)
            flash(_("Your password is changed; every other session of your account has ended."))
            return redirect(url_for("staff.home"), code=303)
    return render_template("staff/password.html", form=form), 200 if not form.errors else 400


@bp.post("/logout")
def logout():
    key = session.get(sessions.SESSION_KEY)
    if isinstance(key, str):
        # Ends the session on the server: a copy of the cookie is worth nothing from now on.
        sessions.revoke(db.session, key, utcnow())
        db.session.commit()
    logout_user()
    session.clear()
    flash(_("You are logged out."))
    return redirect(url_for("staff.login"), code=303)
