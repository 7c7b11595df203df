"""Staff login, passwords (argon2id) and role checks."""

import logging
from datetime import timedelta
from functools import wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app, g, session
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from pro_app.clock import utcnow
from pro_app.db import db, may_write
from pro_app.staff import sessions
from pro_app.staff.models import StaffUser

log = logging.getLogger(__name__)
hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
_DUMMY_HASH = hasher.hash("not a real password")
MIN_PASSWORD_LENGTH = 12


def hash_password(password):
    """Hash a password with argon2id."""
    return hasher.hash(password)


def authenticate(session, email, password):
    """Return the active staff user with these credentials, or None."""
    user = session.scalar(select(StaffUser).where(func.lower(StaffUser.email) == email.strip().lower()))
    try:
        hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def verify_password(user, password):
    """Tell whether a password is this staff member's."""
    try:
        return hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def load_user(user_id):
    """Return the staff member of this request's session, if that session is still good."""
    row = sessions.find(db.session, session.get(sessions.SESSION_KEY))
    if row is None or not user_id.isdigit() or row.staff_id != int(user_id):
        return None
    now = utcnow()
    found = sessions.state(row, now, timedelta(minutes=current_app.config["STAFF_IDLE_MINUTES"]))
    if found not in ("live", "stale"):
        return None
    user = db.session.get(StaffUser, row.staff_id)
    if user is None or not user.active:
        return None
    if found == "stale":
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
