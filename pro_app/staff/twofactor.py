"""Two-factor sign-in: TOTP codes (pyotp), the enrolment QR code (segno) and one-time recovery codes."""

import hashlib
import re
import secrets

import pyotp
import segno
from sqlalchemy import delete, func, select, update

from pro_app.audit.operations import record
from pro_app.staff.models import RecoveryCode
from pro_app.staff.sessions import revoke_all

RECOVERY_CODES = 10
_NOT_CODE = re.compile(r"[^0-9a-z]")


def new_secret():
    """Return a new TOTP secret (base32, 160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(user, issuer):
    """Return the otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=issuer)


def qr_svg(uri):
    """Draw the URI as an inline SVG QR code."""
    return segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff")


def matching_step(secret, code, now, last_step=None):
    """Return the time step a 6-digit code belongs to (±30 s of clock drift), or None.

    A step at or before the last one taken is refused: a code seen over a shoulder, or sent twice,
    signs in once at most.
    """
    code = (code or "").strip().replace(" ", "")
    if not re.fullmatch(r"\d{6}", code):
        return None
    totp = pyotp.TOTP(secret)
    here = totp.timecode(now)
    for step in (here, here - 1, here + 1):
        if secrets.compare_digest(totp.generate_otp(step), code) and (last_step is None or step > last_step):
            return step
    return None


def _code_hash(code):
    return hashlib.sha256(_NOT_CODE.sub("", code.lower()).encode()).hexdigest()


def new_recovery_codes(session, user, *, now):
    """Replace the account's recovery codes with new ones; return them (shown once, stored hashed)."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == user.id))
    # 64 random bits each: hashing without a salt is safe at that entropy.
    codes = ["-".join(secrets.token_hex(2) for _ in range(4)) for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(staff_id=user.id, code_hash=_code_hash(c), created_at=now) for c in codes)
    session.flush()
    return codes


def use_recovery_code(session, user, code, *, now):
    """Spend one recovery code of this account; tell whether it was good and unused."""
    if len(_NOT_CODE.sub("", (code or "").lower())) != 16:
        return False
    # A conditional UPDATE: two tabs racing with the same code cannot both win.
    spent = session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.staff_id == user.id, RecoveryCode.code_hash == _code_hash(code),
               RecoveryCode.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False)
    ).rowcount
    return spent == 1


def codes_left(session, user):
    """Count the account's unused recovery codes."""
    return session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.staff_id == user.id, RecoveryCode.used_at.is_(None)))


def finish_enrolment(session, user, *, actor, now):
    """Mark the pending secret as enrolled and issue recovery codes; flush, don't commit."""
    user.totp_enrolled_at = now
    user.totp_last_step = None
    codes = new_recovery_codes(session, user, now=now)
    record(session, actor=actor, action="staff.two_factor_enrolled", entity="staff_user", entity_id=user.id,
           now=now, after={"recovery_codes": len(codes)})
    return codes


def reset_two_factor(session, user, *, actor, now, reason=None):
    """Remove the account's authenticator and recovery codes; it enrols again at its next login."""
    before = {"enrolled": user.totp_enrolled_at is not None}
    user.totp_secret = None
    user.totp_enrolled_at = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.staff_id == user.id))
    ended = revoke_all(session, user.id, now)
    record(session, actor=actor, action="staff.two_factor_reset", entity="staff_user", entity_id=user.id,
           now=now, before=before, after={"enrolled": False, "sessions_ended": ended}, reason=reason)
    session.flush()
