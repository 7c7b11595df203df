"""The append-only audit log."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pro_app.db import Base, JSONType


class AuditEvent(Base):
    """One change to study data: who, what, when (UTC), before, after and why."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_participant_at", "participant_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(160))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="RESTRICT"))
    action: Mapped[str] = mapped_column(String(60))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int | None]
    participant_id: Mapped[int | None] = mapped_column(
        ForeignKey("participants.id", ondelete="RESTRICT")
    )
    before: Mapped[dict | None] = mapped_column(JSONType)
    after: Mapped[dict | None] = mapped_column(JSONType)
    reason: Mapped[str | None] = mapped_column(Text)
