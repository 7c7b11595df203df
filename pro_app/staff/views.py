"""Staff login and logout."""

from datetime import timedelta

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from pro_app import ratelimits
from pro_app.audit.operations import Actor
from pro_app.clock import to_local, utcnow
from pro_app.db import db
from pro_app.extensions import limiter
from pro_app.i18n import LOCALES, safe_next, select_language
from pro_app.staff import sessions
from pro_app.staff.auth import clear_failures, sign_in, staff_required, verify_password
from pro_app.staff.cli import change_password
from pro_app.staff.forms import LoginForm, PasswordForm
from pro_app.staff.models import StaffUser
from pro_app.staff.passwords import password_problem

bp = Blueprint("staff", __name__, url_prefix="/staff")
#: Where a right password waits for its second factor, and for how long.
PENDING_KEY = "staff_pending"
PENDING_FOR = timedelta(minutes=10)


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
        now = utcnow()
        user, outcome = sign_in(db.session, form.email.data, form.password.data, now=now,
                                lock_after=current_app.config["LOGIN_LOCK_AFTER"])
        db.session.commit()  # a wrong password counts towards the lock even though the page fails
        if outcome == "locked":
            form.password.errors.append(locked_message(user))
        elif outcome == "wrong":
            form.password.errors.append(_("Email or password is not right."))
        elif user.has_two_factor or current_app.config["REQUIRE_2FA"]:
            _await_second_factor(user, now)
            target = "staff.second_factor" if user.has_two_factor else "staff.enrol"
            return redirect(url_for(target, next=safe_next(request.args.get("next"), None)), code=303)
        else:
            _complete_login(user, now)
            return redirect(safe_next(request.args.get("next"), url_for("staff.home")), code=303)
    return render_template("staff/login.html", form=form), 200 if not form.errors else 400


def locked_message(user):
    """Say until when an account is locked, on the study zone's clock."""
    zone = current_app.config["TIMEZONE"]
    until = to_local(user.locked_until, zone).strftime("%Y-%m-%d %H:%M")
    return _("After repeated wrong attempts this account is locked until %(until)s (%(zone)s).",
             until=until, zone=zone)


def _fresh_session():
    """Empty the browser's session, keeping only its language (no fixation); return that language."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return lang


def _await_second_factor(user, now):
    """Remember, for a few minutes, whose password was right; nothing is signed in yet."""
    _fresh_session()
    session[PENDING_KEY] = {"id": user.id, "until": (now + PENDING_FOR).timestamp()}


def pending_user(now):
    """Return the staff member whose password was just right and who owes a second factor, or None."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict) or not isinstance(pending.get("id"), int):
        return None
    if not isinstance(pending.get("until"), int | float) or pending["until"] < now.timestamp():
        return None
    user = db.session.get(StaffUser, pending["id"])
    return user if user is not None and user.active else None


def _complete_login(user, now):
    """Sign this browser in: a fresh staff session, failures forgotten; commits."""
    clear_failures(user)
    _start_session(user, now)
    user.last_login_at = now
    db.session.commit()
    login_user(user)


def _start_session(user, now):
    """Give this browser a fresh staff session (new key, nothing of the old cookie kept but the language)."""
    lang = _fresh_session()
    if lang in LOCALES:
        user.language = lang  # chosen on the login page: the staff member's choice from now on
    session["lang"] = user.language
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
        problem = password_problem(form.new.data, user.email)
        if not verify_password(user, form.current.data):
            form.current.errors.append(_("The current password is not right."))
        elif problem:
            form.new.errors.append(problem)
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
    lang = select_language()
    logout_user()
    session.clear()
    session["lang"] = lang  # the login page that follows speaks the language just used
    flash(_("You are logged out."))
    return redirect(url_for("staff.login"), code=303)
