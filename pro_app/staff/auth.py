"""Staff login, passwords (argon2id) and role checks."""

import logging
from datetime import timedelta
from functools import cache, wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, g, session
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from pro_app.audit.operations import SYSTEM, record
from pro_app.clock import utcnow
from pro_app.db import db, may_write
from pro_app.staff import sessions
from pro_app.staff.models import StaffUser

log = logging.getLogger(__name__)
hasher = PasswordHasher()  # argon2id with the library's current recommended parameters


@cache
def dummy_hash():
    """A hash to check an unknown account's password against, made on first need (it takes a while)."""
    return hasher.hash("not a real password")


def hash_password(password):
    """Hash a password with argon2id."""
    return hasher.hash(password)


def staff_by_email(session, email):
    """Return the staff account with this email, compared as login compares it, or None."""
    return session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email.strip().lower()))


def lock_minutes(locks_before, base=15, cap=24 * 60):
    """Return how long an account's next lock lasts: doubling with each lock, a day at most."""
    return min(base * 2 ** min(locks_before, 20), cap)


def sign_in(session, email, password, *, now, lock_after=10):
    """Check a password against the account lock; return (user, "ok" | "wrong" | "locked"); flush only.

    Every `lock_after` wrong passwords in a row lock the account for a growing time (audited); a
    locked account refuses even the right password until the lock ends.
    """
    user = staff_by_email(session, email)
    if user is not None and user.is_locked(now):
        return user, "locked"
    right = verify_password(user, password)
    if user is None or not user.active:
        return None, "wrong"
    if not right:
        return user, note_failure(session, user, now=now, lock_after=lock_after)
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    # Failures are cleared only once the second factor is passed too (clear_failures).
    return user, "ok"


def clear_failures(user):
    """Forget wrong passwords and past locks after a complete sign-in."""
    user.failed_logins = 0
    user.lock_count = 0
    user.locked_until = None


def note_failure(session, user, *, now, lock_after=10):
    """Count a wrong password or code against the account; return "locked" or "wrong"; flush only."""
    user.failed_logins += 1
    if user.failed_logins >= lock_after:
        minutes = lock_minutes(user.lock_count)
        user.locked_until = now + timedelta(minutes=minutes)
        user.lock_count += 1
        user.failed_logins = 0
        record(session, actor=SYSTEM, action="staff.locked", entity="staff_user", entity_id=user.id, now=now,
               after={"locked_until": user.locked_until.isoformat(), "minutes": minutes, "lock": user.lock_count})
        session.flush()
        return "locked"
    session.flush()
    return "wrong"


def verify_password(user, password):
    """Tell whether a password is this staff member's; without an account, take as long and say no."""
    try:
        return hasher.verify(dummy_hash() if user is None else user.password_hash, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def load_user(user_id):
    """Return the staff member of this request's session, if that session is still good."""
    row, user = sessions.find(db.session, session.get(sessions.SESSION_KEY)) or (None, None)
    if row is None or not user_id.isdigit() or row.staff_id != int(user_id):
        return None
    now = utcnow()
    state = sessions.state(row, now, timedelta(minutes=current_app.config["STAFF_IDLE_MINUTES"]))
    if state not in ("live", "stale") or not user.active:
        return None
    if state == "stale":
        g.staff_session_touch = (row.id, now)
    return user


def keep_alive():
    """Check the staff session before the view runs, and note its use in a short write of its own.

    Staff pages are mostly GETs, which read without the write lock on SQLite; the seen-time is
    written at most once a minute per session, in its own transaction, before the view starts.
    """
    if sessions.SESSION_KEY not in session:
        return
    if not current_user.is_authenticated:
        session.pop(sessions.SESSION_KEY, None)
        return
    due = g.pop("staff_session_touch", None)
    if due is None:
        return
    db.session.commit()  # end the read that checked the session; nothing else has happened yet
    token = may_write.set(True)
    try:
        sessions.touch(db.session, *due)
        db.session.commit()
    except OperationalError:
        # A seen-time is worth no error page: a busy database gets the next one a minute later.
        db.session.rollback()
        log.info("staff session seen-time not written (database busy)")
    finally:
        may_write.reset(token)


def staff_required(*roles):
    """Let in logged-in staff, and only the given roles when any are named."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                from pro_app.extensions import login_manager

                return login_manager.unauthorized()
            if roles and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorator
