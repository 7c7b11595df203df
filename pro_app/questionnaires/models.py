"""Questionnaire assignments, links, drafts and responses."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pro_app.db import Base, JSONType, StrEnum, value_enum
from pro_app.participants.models import Contact, Participant


class AssignmentState(StrEnum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


#: Assignments that can still be answered while their window is open.
OPEN_ASSIGNMENT = (AssignmentState.PENDING, AssignmentState.IN_PROGRESS)


class InstrumentVersion(Base):
    """One version of an instrument, by content hash, with the definition it had."""

    __tablename__ = "instrument_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    instrument_id: Mapped[str] = mapped_column(String(40), index=True)
    version_hash: Mapped[str] = mapped_column(String(64), unique=True)
    definition: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[datetime]


class Assignment(Base):
    """An instrument due to one respondent in one window; answered at most once."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("participant_id", "contact_id", "instrument_id", "occasion"),
        Index("ix_assignments_state_closes", "state", "closes_at"),
        Index("ix_assignments_participant_opens", "participant_id", "opens_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    respondent: Mapped[str] = mapped_column(String(8))  # self, or proxy for a caregiver
    instrument_id: Mapped[str] = mapped_column(String(40))
    occasion: Mapped[str] = mapped_column(String(40))
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id", ondelete="SET NULL"), index=True)
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime]
    state: Mapped[AssignmentState] = mapped_column(value_enum(AssignmentState), default=AssignmentState.PENDING)
    completed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    participant: Mapped[Participant] = relationship()
    contact: Mapped[Contact] = relationship()

    @property
    def proxy(self):
        return self.respondent == "proxy"

    def is_open_at(self, now):
        return self.state in OPEN_ASSIGNMENT and self.opens_at <= now < self.closes_at


class QuestionnaireLink(Base):
    """A link token (stored hashed) that opens one assignment for its respondent.

    Links made for a text naming several questionnaires share a `list_hash` instead: its one
    link opens the list, and each questionnaire is started from there.
    """

    __tablename__ = "questionnaire_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The hash of the one link a text naming several questionnaires carried, when it was one of them.
    list_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    superseded_at: Mapped[datetime | None]

    assignment: Mapped[Assignment] = relationship()


class ResponseDraft(Base):
    """Answers saved as the respondent goes, so a dropped connection resumes where it stopped."""

    __tablename__ = "response_drafts"

    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="CASCADE"),
                                               primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("instrument_versions.id"))
    answers: Mapped[dict] = mapped_column(JSONType)
    section: Mapped[int] = mapped_column(default=0)
    submit_key: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    version: Mapped[InstrumentVersion] = relationship()


class Response(Base):
    """A submitted questionnaire: immutable (the database refuses changes)."""

    __tablename__ = "responses"
    # Assessing a new response looks up the same respondent's earlier answers to the instrument.
    __table_args__ = (Index("ix_responses_contact_instrument_submitted", "contact_id", "instrument_id",
                            "submitted_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id", ondelete="RESTRICT"), unique=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="RESTRICT"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="RESTRICT"))
    version_id: Mapped[int] = mapped_column(ForeignKey("instrument_versions.id", ondelete="RESTRICT"))
    instrument_id: Mapped[str] = mapped_column(String(40))
    respondent: Mapped[str] = mapped_column(String(8))
    proxy: Mapped[bool]
    answers: Mapped[dict] = mapped_column(JSONType)
    scores: Mapped[dict] = mapped_column(JSONType)
    started_at: Mapped[datetime]
    submitted_at: Mapped[datetime]
    submit_key: Mapped[str] = mapped_column(String(32), unique=True)

    assignment: Mapped[Assignment] = relationship()
    version: Mapped[InstrumentVersion] = relationship()
