"""Study visits: infusions, marrow aspirates and others."""

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pro_app.clock import to_local
from pro_app.db import Base, StrEnum, value_enum
from pro_app.participants.models import Participant


class VisitKind(StrEnum):
    INFUSION = "infusion"
    MARROW = "marrow"
    OTHER = "other"


class VisitStatus(StrEnum):
    SCHEDULED = "scheduled"
    CONFIRMED = "confirmed"
    DONE = "done"
    MISSED = "missed"
    CANCELLED = "cancelled"


#: Visits that still lie ahead and may be moved, cancelled or reminded of.
OPEN_STATUSES = (VisitStatus.SCHEDULED, VisitStatus.CONFIRMED)


class Visit(Base):
    """One visit at the site, planned from the protocol or added by staff."""

    __tablename__ = "visits"
    __table_args__ = (
        Index("ix_visits_participant_starts", "participant_id", "starts_at"),
        Index("ix_visits_status_starts", "status", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    kind: Mapped[VisitKind] = mapped_column(value_enum(VisitKind))
    protocol_key: Mapped[str | None] = mapped_column(String(40))
    label: Mapped[str | None] = mapped_column(String(80))
    dose_number: Mapped[int | None]
    starts_at: Mapped[datetime]
    duration_minutes: Mapped[int]
    window_opens_on: Mapped[date]
    window_closes_on: Mapped[date]
    status: Mapped[VisitStatus] = mapped_column(
        value_enum(VisitStatus), default=VisitStatus.SCHEDULED
    )
    note: Mapped[str | None] = mapped_column(Text)
    #: Bumped on every change, so that re-planned reminders get new dedupe keys.
    revision: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    participant: Mapped[Participant] = relationship(back_populates="visits")

    @property
    def local_start(self):
        return to_local(self.starts_at, self.participant.timezone)

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES

    def snapshot(self):
        """Return the visit's editable state for the audit log."""
        local = self.local_start
        return {
            "kind": self.kind.value,
            "dose_number": self.dose_number,
            "local_date": local.date().isoformat(),
            "local_time": local.strftime("%H:%M"),
            "timezone": self.participant.timezone,
            "starts_at_utc": self.starts_at.isoformat(),
            "window": [self.window_opens_on.isoformat(), self.window_closes_on.isoformat()],
            "status": self.status.value,
        }
