"""Participants and the people who receive their messages."""

from datetime import date, datetime, time

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pro_app.db import Base, StrEnum, value_enum

LANGUAGES = ("zh-CN", "en")


class ParticipantStatus(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    WITHDRAWN = "withdrawn"
    COMPLETED = "completed"
    DECEASED = "deceased"


class ContactRole(StrEnum):
    PATIENT = "patient"
    CAREGIVER = "caregiver"


def age_group(age):
    """Name the respondent group for an age: 'child' (<7), 'adolescent' (7-17) or 'adult'."""
    if age is None or age >= 18:
        return "adult"
    return "child" if age < 7 else "adolescent"


class Participant(Base):
    """A trial participant, known here only by a pseudonymous study ID."""

    __tablename__ = "participants"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[str] = mapped_column(String(32), unique=True)
    start_date: Mapped[date]
    age: Mapped[int | None]
    #: Optional; when known, turning 14 or 18 during the trial raises a re-consent task.
    birth_date: Mapped[date | None]
    language: Mapped[str] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))
    status: Mapped[ParticipantStatus] = mapped_column(
        value_enum(ParticipantStatus), default=ParticipantStatus.ACTIVE, index=True
    )
    created_at: Mapped[datetime]

    contacts: Mapped[list["Contact"]] = relationship(
        back_populates="participant", order_by="Contact.id", cascade="all, delete-orphan"
    )
    visits: Mapped[list["Visit"]] = relationship(  # noqa: F821
        back_populates="participant", order_by="Visit.starts_at", cascade="all, delete-orphan"
    )

    @property
    def age_group(self):
        return age_group(self.age)

    @property
    def is_active(self):
        return self.status == ParticipantStatus.ACTIVE


class Contact(Base):
    """The patient or a caregiver who receives messages about one participant."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("participant_id", "phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(
        ForeignKey("participants.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[ContactRole] = mapped_column(value_enum(ContactRole))
    name: Mapped[str | None] = mapped_column(String(80))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    language: Mapped[str] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))
    receives_visit_reminders: Mapped[bool] = mapped_column(default=True)
    receives_questionnaires: Mapped[bool] = mapped_column(default=True)
    quiet_start: Mapped[time] = mapped_column(default=time(21, 0))
    quiet_end: Mapped[time] = mapped_column(default=time(8, 0))
    consent_at: Mapped[datetime | None]
    calendar_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: When the evening-before reminders go, local to the contact; None: the protocol's time.
    evening_time: Mapped[time | None]
    #: The preferences link of the last welcome text: its hash, and when it was made (it lapses).
    preferences_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    preferences_token_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    participant: Mapped[Participant] = relationship(back_populates="contacts")

    @property
    def is_patient(self):
        return self.role == ContactRole.PATIENT

    @property
    def agreed_to_texts(self):
        return self.consent_at is not None
