"""Administrators' account work: invitations, roles, the nurse-lead mark; callers own the transaction."""

from pro_app.audit.operations import record
from pro_app.staff.auth import staff_by_email
from pro_app.staff.models import StaffRole, StaffUser
from pro_app.staff.sessions import revoke_all

#: Never a valid argon2 hash: an invited account cannot sign in before its password is chosen.
NO_PASSWORD = "!invited"


class AccountError(ValueError):
    """An account change that cannot be made (the message says why)."""


def invite_staff(session, email, role, *, actor, now, phone=None, language="zh-CN"):
    """Store an account that waits for its owner to choose a password; flush, don't commit."""
    email = email.strip().lower()
    if staff_by_email(session, email) is not None:
        raise AccountError("exists")
    user = StaffUser(email=email, password_hash=NO_PASSWORD, role=StaffRole(role), phone=phone,
                     language=language, created_at=now, invited_at=now)
    session.add(user)
    session.flush()
    record(session, actor=actor, action="staff.invited", entity="staff_user", entity_id=user.id, now=now,
           after={"email": email, "role": user.role.value})
    return user


def change_role(session, user, role, *, nurse_lead, actor, now):
    """Give an account another role (its sessions end, so the new rights apply at once); flush only."""
    role = StaffRole(role)
    if actor.staff_id == user.id and role != StaffRole.ADMIN:
        raise AccountError("own admin role")
    before = {"role": user.role.value, "nurse_lead": user.nurse_lead}
    if before == {"role": role.value, "nurse_lead": nurse_lead}:
        return 0
    ended = revoke_all(session, user.id, now) if role != user.role else 0
    user.role = role
    user.nurse_lead = nurse_lead
    record(session, actor=actor, action="staff.role_changed", entity="staff_user", entity_id=user.id, now=now,
           before=before, after={"role": role.value, "nurse_lead": nurse_lead, "sessions_ended": ended})
    session.flush()
    return ended
