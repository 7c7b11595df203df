"""Staff accounts and roles."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column

from pro_app.db import Base, StrEnum, value_enum


class StaffRole(StrEnum):
    NURSE = "nurse"
    INVESTIGATOR = "investigator"
    ADMIN = "admin"
    MONITOR = "monitor"


#: Roles that may change study data; monitors only read.
WRITE_ROLES = (StaffRole.NURSE, StaffRole.INVESTIGATOR, StaffRole.ADMIN)


class StaffUser(UserMixin, Base):
    """A study nurse, investigator, administrator or monitor."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[StaffRole] = mapped_column(value_enum(StaffRole))
    phone: Mapped[str | None] = mapped_column(String(20))
    on_call: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str] = mapped_column(String(8), default="zh-CN")
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enrolled_at: Mapped[datetime | None]
    #: The last time step a code was taken for: the same code never signs in twice.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    lock_count: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    #: Gets the text about a gap in the on-call rota (admins when no one is marked).
    nurse_lead: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    invited_at: Mapped[datetime | None]

    @property
    def has_two_factor(self):
        return self.totp_enrolled_at is not None

    def is_locked(self, now):
        """Tell whether repeated wrong attempts keep this account out at this instant."""
        return self.locked_until is not None and self.locked_until > now

    @property
    def is_active(self):
        return self.active

    @property
    def can_write(self):
        return self.role in WRITE_ROLES


class StaffSession(Base):
    """One login of a staff member: its key lives in the browser's session, only its hash here."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(200))
    ip_address: Mapped[str | None] = mapped_column(String(45))


class RecoveryCode(Base):
    """A one-time code that stands in for the authenticator app; only its SHA-256 is kept."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
