"""Writing audit events; callers own the transaction."""

import getpass
from dataclasses import dataclass

from pro_app.audit.models import AuditEvent


@dataclass(frozen=True)
class Actor:
    """Who made a change: a staff member, or a command run on the server."""

    label: str
    staff_id: int | None = None

    @classmethod
    def staff(cls, user):
        return cls(label=f"staff:{user.email}", staff_id=user.id)

    @classmethod
    def command_line(cls):
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
        return cls(label=f"cli:{name}")


SYSTEM = Actor(label="system")


def record(session, *, actor, action, entity, now, entity_id=None, participant_id=None,
           before=None, after=None, reason=None):
    """Append one audit event to the session."""
    event = AuditEvent(
        at=now,
        actor=actor.label,
        staff_id=actor.staff_id,
        action=action,
        entity=entity,
        entity_id=entity_id,
        participant_id=participant_id,
        before=before,
        after=after,
        reason=reason,
    )
    session.add(event)
    return event
