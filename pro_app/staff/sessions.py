"""Server-side staff sessions: one row per login, ended by logout, password change or deactivation.

The browser's signed session cookie carries only a random key; the row decides whether it is
still good, so a copied cookie stops working the moment the session is revoked or goes idle.
"""

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select, update

from pro_app.staff.models import StaffSession, StaffUser

#: Where the key sits in the Flask session.
SESSION_KEY = "staff_session"
#: Seen-times are written at most this often: reads stay reads, and idle time is exact to a minute.
TOUCH_AFTER = timedelta(seconds=60)


def hash_key(key):
    """Hash a session key for storage and lookup."""
    return hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()


def start(session, user, *, now, lifetime, user_agent=None, ip_address=None):
    """Open a new staff session and return its key (shown to the browser once); flush, don't commit."""
    key = secrets.token_urlsafe(32)  # 256 bits
    session.add(StaffSession(
        key_hash=hash_key(key), staff_id=user.id, created_at=now, last_seen_at=now, expires_at=now + lifetime,
        user_agent=(user_agent or "")[:200] or None, ip_address=(ip_address or "")[:45] or None,
    ))
    session.flush()
    return key


def find(session, key):
    """Return (session row, its staff member) for a key in one query, or None."""
    if not isinstance(key, str) or not 20 <= len(key) <= 100:
        return None
    return session.execute(select(StaffSession, StaffUser).join(StaffUser, StaffUser.id == StaffSession.staff_id)
                           .where(StaffSession.key_hash == hash_key(key))).first()


def state(row, now, idle):
    """Say what a session is now: "revoked", "expired", "idle", "stale" (live, seen-time due) or "live"."""
    if row.revoked_at is not None:
        return "revoked"
    if now >= row.expires_at:
        return "expired"
    if now - row.last_seen_at > idle:
        return "idle"
    if now - row.last_seen_at >= TOUCH_AFTER:
        return "stale"
    return "live"


def touch(session, row_id, now):
    """Record that a session was used now (unless another request just did); flush, don't commit."""
    session.execute(update(StaffSession)
                    .where(StaffSession.id == row_id, StaffSession.last_seen_at <= now - TOUCH_AFTER,
                           StaffSession.revoked_at.is_(None))
                    .values(last_seen_at=now))


def revoke(session, key, now):
    """End one session (logout); flush, don't commit."""
    session.execute(update(StaffSession)
                    .where(StaffSession.key_hash == hash_key(key), StaffSession.revoked_at.is_(None))
                    .values(revoked_at=now))


def revoke_all(session, staff_id, now):
    """End every session of a staff member (password change, deactivation); return how many."""
    result = session.execute(update(StaffSession)
                             .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
                             .values(revoked_at=now))
    return result.rowcount
