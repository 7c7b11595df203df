"""The second step of signing in, enrolling an authenticator, and accepting an invitation."""

import hashlib

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from itsdangerous import BadSignature, URLSafeTimedSerializer

from pro_app import ratelimits
from pro_app.audit.operations import Actor, record
from pro_app.clock import utcnow
from pro_app.db import db, may_write
from pro_app.extensions import limiter
from pro_app.i18n import safe_next
from pro_app.staff import twofactor
from pro_app.staff.auth import hash_password, note_failure
from pro_app.staff.forms import CodeForm, EnrolForm, NewPasswordForm
from pro_app.staff.models import StaffUser
from pro_app.staff.passwords import password_problem
from pro_app.staff.views import _await_second_factor, _complete_login, bp, locked_message, pending_user


def _next():
    return safe_next(request.args.get("next"), url_for("staff.home"))


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(ratelimits.login_per_address, methods=["POST"], deduct_when=ratelimits.failed)
def second_factor():
    """Ask for the authenticator's code (or a recovery code) after a right password."""
    now = utcnow()
    user = pending_user(now)
    if user is None or not user.has_two_factor:
        return redirect(url_for("staff.login"), code=303)
    form = CodeForm()
    if form.validate_on_submit():
        if user.is_locked(now):
            form.code.errors.append(locked_message(user))
        else:
            step = twofactor.matching_step(user.totp_secret, form.code.data, now, user.totp_last_step)
            if step is not None:
                user.totp_last_step = step
                _complete_login(user, now)
                return redirect(_next(), code=303)
            if twofactor.use_recovery_code(db.session, user, form.code.data, now=now):
                record(db.session, actor=Actor.staff(user), action="staff.recovery_code_used", entity="staff_user",
                       entity_id=user.id, now=now, after={"left": twofactor.codes_left(db.session, user)})
                _complete_login(user, now)
                return redirect(_next(), code=303)
            outcome = note_failure(db.session, user, now=now, lock_after=current_app.config["LOGIN_LOCK_AFTER"])
            db.session.commit()
            form.code.errors.append(locked_message(user) if outcome == "locked"
                                    else _("That code is not right, or was already used."))
    return render_template("staff/second_factor.html", form=form), 200 if not form.errors else 400


def _enrolling_user(now):
    if current_user.is_authenticated:
        return current_user._get_current_object()
    return pending_user(now)


@bp.route("/two-factor", methods=["GET", "POST"])
@limiter.limit(ratelimits.login_per_address, methods=["POST"], deduct_when=ratelimits.failed)
def enrol():
    """Set up an authenticator app: scan the QR code, type one code, keep the recovery codes."""
    now = utcnow()
    user = _enrolling_user(now)
    if user is None:
        return redirect(url_for("staff.login"), code=303)
    if user.has_two_factor:
        if current_user.is_authenticated:
            return render_template("staff/two_factor_done.html", codes=None,
                                   left=twofactor.codes_left(db.session, user))
        return redirect(url_for("staff.second_factor"), code=303)
    if user.totp_secret is None:
        # Kept server-side until the first code proves the app has it. A GET reads in a deferred
        # transaction; this one write gets a transaction of its own that may write (SQLite).
        db.session.commit()
        token = may_write.set(True)
        try:
            user.totp_secret = twofactor.new_secret()
            db.session.commit()
        finally:
            may_write.reset(token)
    form = EnrolForm()
    if form.validate_on_submit():
        step = twofactor.matching_step(user.totp_secret, form.code.data, now)
        if step is None:
            form.code.errors.append(_("That code is not right: check the time on your phone and try the next one."))
        else:
            codes = twofactor.finish_enrolment(db.session, user, actor=Actor.staff(user), now=now)
            user.totp_last_step = step
            if current_user.is_authenticated:
                db.session.commit()
            else:
                _complete_login(user, now)
            return render_template("staff/two_factor_done.html", codes=codes, next=_next())
    uri = twofactor.provisioning_uri(user, current_app.config["TOTP_ISSUER"])
    return render_template("staff/enrol.html", form=form, secret=user.totp_secret, qr=twofactor.qr_svg(uri)), \
        200 if not form.errors else 400


def _invitations():
    return URLSafeTimedSerializer(current_app.secret_key, salt="staff-invitation")


def _fingerprint(user):
    # The invitation is bound to the password it was made for: once a password is set it is spent.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def invitation_token(user):
    """Sign a single-use invitation for an account that has no password yet."""
    return _invitations().dumps([user.id, _fingerprint(user)])


def invited_user(token):
    """Return the account an invitation link is for, or None when it is unknown, used or too old."""
    try:
        staff_id, fingerprint = _invitations().loads(
            token, max_age=current_app.config["STAFF_INVITATION_DAYS"] * 86400)
    except (BadSignature, ValueError, TypeError):
        return None
    user = db.session.get(StaffUser, staff_id) if isinstance(staff_id, int) else None
    if user is None or not user.active or user.invited_at is None or _fingerprint(user) != fingerprint:
        return None
    return user


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@limiter.limit(ratelimits.login_per_address, methods=["POST"], deduct_when=ratelimits.failed)
def accept_invitation(token):
    """Let an invited staff member choose a password, then set up two-factor sign-in."""
    user = invited_user(token)
    if user is None:
        return render_template("error.html", code=404, title=_("This invitation cannot be used"),
                               hint=_("It was already used, has expired or is not complete. "
                                      "Ask the study administrator for a new one.")), 404
    form = NewPasswordForm()
    if form.validate_on_submit():
        problem = password_problem(form.new.data, user.email)
        if problem:
            form.new.errors.append(problem)
        else:
            now = utcnow()
            user.password_hash = hash_password(form.new.data)
            record(db.session, actor=Actor.staff(user), action="staff.invitation_accepted", entity="staff_user",
                   entity_id=user.id, now=now)
            db.session.commit()
            _await_second_factor(user, now)
            return redirect(url_for("staff.enrol"), code=303)
    return render_template("staff/invitation.html", form=form, email=user.email), 200 if not form.errors else 400
