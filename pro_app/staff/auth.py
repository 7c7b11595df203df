"""Staff login, passwords (argon2id) and role checks."""

from functools import wraps

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort
from flask_login import current_user
from sqlalchemy import func, select

from pro_app.db import db
from pro_app.staff.models import StaffUser

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


def load_user(user_id):
    if not user_id.isdigit():
        return None
    return db.session.get(StaffUser, int(user_id))


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
