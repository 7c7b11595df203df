"""Alerts raised by answers (or by missed questionnaires and unreachable contacts)."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
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
    """An episode: one concern about one participant, with every rule that fired in it.

    `rule` and `detail` are the headline (the most urgent rule that fired first); the
    occurrences hold each rule that fired, with its label and the answers behind it.
    """

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_worklist", "state", "severity", "opened_at"),
        Index("ix_alerts_escalation", "state", "next_escalation_at"),
        # A new answer looks for the participant's open episode.
        Index("ix_alerts_participant_state_opened", "participant_id", "state", "opened_at"),
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
    #: When the on-call nurse was last texted at level 0: at most one such text per participant per 15 min.
    nurse_texted_at: Mapped[datetime | None]

    participant: Mapped[Participant] = relationship()
    owner: Mapped[StaffUser | None] = relationship()

    @property
    def is_active(self):
        return self.state in ACTIVE


class AlertOccurrence(Base):
    """One rule that fired in an episode: for one questionnaire (answered or still being answered) or event."""

    __tablename__ = "alert_occurrences"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    rule: Mapped[str] = mapped_column(String(80))
    #: The rule's wording when it fired, {language: text}; None when the rule has none.
    label: Mapped[dict | None] = mapped_column(JSONType)
    at: Mapped[datetime]
    severity: Mapped[str] = mapped_column(String(8))
    detail: Mapped[dict] = mapped_column(JSONType)
    response_id: Mapped[int | None] = mapped_column(ForeignKey("responses.id", ondelete="RESTRICT"))
    #: The questionnaire it came from; set while it is still being answered, kept after the submit.
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id", ondelete="SET NULL"),
                                                      index=True)

    @property
    def unfinished(self):
        """Tell whether it came from answers saved in a questionnaire not (yet) submitted."""
        return self.assignment_id is not None and self.response_id is None
