"""Alerts raised by answers (or by missed questionnaires and unreachable contacts)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pro_app.db import Base, JSONType, StrEnum, value_enum
from pro_app.participants.models import Participant
from pro_app.staff.models import StaffUser


class AlertState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


#: Alerts still on the worklist.
ACTIVE = (AlertState.OPEN, AlertState.ACKNOWLEDGED)

ACTIONS = ("called_patient", "advised_hospital_visit", "contacted_investigator", "no_action_needed", "other")


class Alert(Base):
    """One concern about one participant: at most one active alert per participant and rule."""

    __tablename__ = "alerts"
    __table_args__ = (
        # Repeats of the same rule attach to the active alert instead of opening another.
        Index("uq_alerts_active_rule", "participant_id", "rule", unique=True,
              postgresql_where=text("state <> 'resolved'"), sqlite_where=text("state <> 'resolved'")),
        Index("ix_alerts_worklist", "state", "severity", "opened_at"),
        Index("ix_alerts_escalation", "state", "next_escalation_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="RESTRICT"), index=True)
    rule: Mapped[str] = mapped_column(String(80))
    severity: Mapped[str] = mapped_column(String(8))
    state: Mapped[AlertState] = mapped_column(value_enum(AlertState), default=AlertState.OPEN)
    detail: Mapped[dict] = mapped_column(JSONType)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id", ondelete="RESTRICT"))
    occurrences: Mapped[int] = mapped_column(default=1)
    escalation_level: Mapped[int] = mapped_column(default=0)
    next_escalation_at: Mapped[datetime | None]
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="RESTRICT"))
    claimed_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    action: Mapped[str | None] = mapped_column(String(40))
    note: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]

    participant: Mapped[Participant] = relationship()
    owner: Mapped[StaffUser | None] = relationship()

    @property
    def is_active(self):
        return self.state in ACTIVE


class AlertOccurrence(Base):
    """Each time an alert's rule fired, including repeats that attached to it."""

    __tablename__ = "alert_occurrences"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    severity: Mapped[str] = mapped_column(String(8))
    detail: Mapped[dict] = mapped_column(JSONType)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id", ondelete="RESTRICT"))
