"""Import every model so that the metadata knows all tables."""

from pro_app.alerts.models import Alert, AlertOccurrence  # noqa: F401
from pro_app.audit.models import AuditEvent  # noqa: F401
from pro_app.consent.models import Consent  # noqa: F401
from pro_app.oncall.models import Shift  # noqa: F401
from pro_app.participants.models import Contact, Participant  # noqa: F401
from pro_app.questionnaires.models import (  # noqa: F401
    Assignment,
    InstrumentVersion,
    QuestionnaireLink,
    Response,
    ResponseDraft,
)
from pro_app.sms.models import InboundMessage, Message, PhoneNumber  # noqa: F401
from pro_app.staff.models import RecoveryCode, StaffUser  # noqa: F401
from pro_app.visits.models import Visit  # noqa: F401
