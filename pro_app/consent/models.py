"""What each participant and contact agreed to, and when they withdrew it."""

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pro_app.db import Base, StrEnum


class ConsentKind(StrEnum):
    TEXTS = "texts"  # study texts to this contact
    QUESTIONNAIRES = "questionnaires"  # questionnaires to this contact
    HEALTH_DATA = "health_data"  # processing of the participant's health data: its own, separate consent
    GUARDIAN = "guardian"  # a guardian's consent for a child under 14
    ASSENT = "assent"  # the child's own assent, from 8
    RECONSENT_14 = "reconsent_14"  # consent taken again at 14
    RECONSENT_18 = "reconsent_18"  # the adult's own consent at 18 (they take over the texts from the parents)


class Consent(Base):
    """One consent given (and perhaps later withdrawn); contact_id is empty for the participant's own."""

    __tablename__ = "consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    document_version: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    taken_by: Mapped[str] = mapped_column(String(160))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))
    given_at: Mapped[datetime]
    withdrawn_at: Mapped[datetime | None]
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
