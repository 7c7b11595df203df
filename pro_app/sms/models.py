"""The SMS outbox, phone-number status (opt-out, reachability) and inbound replies."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pro_app.db import Base, JSONType, StrEnum, value_enum
from pro_app.participants.models import Contact, Participant


class MessageState(StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"
    #: The gateway may or may not have taken it (timeout, 5xx, crash mid-send): never re-sent blindly.
    UNKNOWN = "unknown"


#: How far a state has got; provider callbacks only ever move a message forward.
STATE_RANK = {
    MessageState.PENDING: 0, MessageState.SENDING: 1, MessageState.UNKNOWN: 1,
    MessageState.SENT: 2, MessageState.DELIVERED: 3, MessageState.UNDELIVERED: 3,
    MessageState.FAILED: 3, MessageState.SUPPRESSED: 3, MessageState.CANCELLED: 3,
}


class Message(Base):
    """One SMS in the outbox: written in the caller's transaction, sent by a tick."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_state_due", "state", "due_at"),
        Index("ix_messages_participant_due", "participant_id", "due_at"),
        # Partial: the claim and each tick's look at staff alert texts stay small over millions of finished rows.
        Index("ix_messages_pending_due", "due_at", postgresql_where=text("state = 'pending'"),
              sqlite_where=text("state = 'pending'")),
        Index("ix_messages_staff_alert_updated", "updated_at", postgresql_where=text("template = 'staff_alert'"),
              sqlite_where=text("template = 'staff_alert'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    visit_id: Mapped[int | None] = mapped_column(ForeignKey("visits.id", ondelete="SET NULL"), index=True)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id", ondelete="SET NULL"),
                                                      index=True)
    to_phone: Mapped[str] = mapped_column(String(20), index=True)
    template: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)
    #: The template's variables, for providers that send only approved templates (Alibaba).
    params: Mapped[dict | None] = mapped_column(JSONType)
    #: Which provider route carried the text (twilio, aliyun, console), set when it is sent.
    route: Mapped[str | None] = mapped_column(String(20))
    due_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    ignore_quiet_hours: Mapped[bool] = mapped_column(default=False)
    state: Mapped[MessageState] = mapped_column(value_enum(MessageState), default=MessageState.PENDING)
    state_reason: Mapped[str | None] = mapped_column(String(80))
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_at: Mapped[datetime | None]
    #: Which dispatch run holds the claim; only that run may send the text.
    claimed_by: Mapped[str | None] = mapped_column(String(32))
    attempted_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    error_code: Mapped[int | None]
    error_message: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    contact: Mapped[Contact | None] = relationship()
    participant: Mapped[Participant | None] = relationship()
    assignment: Mapped["Assignment | None"] = relationship()  # noqa: F821


class PhoneNumber(Base):
    """What is known about a phone number across participants: opted out, unreachable."""

    __tablename__ = "phone_numbers"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    opted_out_at: Mapped[datetime | None]
    opt_out_source: Mapped[str | None] = mapped_column(String(20))
    unreachable_at: Mapped[datetime | None]
    unreachable_code: Mapped[int | None]
    updated_at: Mapped[datetime]

    @property
    def can_receive(self):
        return self.opted_out_at is None and self.unreachable_at is None


class SmsRoute(Base):
    """A provider route's standing: stopped (out of balance, template refused) until an admin restarts it."""

    __tablename__ = "sms_routes"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    stopped_at: Mapped[datetime | None]
    stop_code: Mapped[str | None] = mapped_column(String(60))
    stop_reason: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class InboundMessage(Base):
    """A text received from a phone; replies that need a person land in the staff inbox."""

    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_messages_open", "handled_at", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_sid: Mapped[str] = mapped_column(String(64), unique=True)
    from_phone: Mapped[str] = mapped_column(String(20), index=True)
    to_phone: Mapped[str | None] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    action: Mapped[str] = mapped_column(String(20))
    participant_id: Mapped[int | None] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"))
    received_at: Mapped[datetime]
    handled_at: Mapped[datetime | None]
    handled_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id", ondelete="SET NULL"))

    participant: Mapped[Participant | None] = relationship()
