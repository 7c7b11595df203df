"""How an audit event reads for staff: who, what, and the changed fields as words, not JSON."""

from flask_babel import lazy_gettext as _l

ACTIONS = {
    "alert.opened": _l("alert opened"), "alert.worsened": _l("alert worsened"),
    "alert.escalated": _l("alert escalated"), "alert.rerouted": _l("alert sent to the next level"),
    "alert.claimed": _l("alert claimed"), "alert.acknowledged": _l("alert acknowledged"),
    "alert.resolved": _l("alert resolved"),
    "participant.enrolled": _l("participant enrolled"), "participant.status": _l("participant status changed"),
    "contact.preferences": _l("reminder time or language changed"),
    "visit.added": _l("visit added"), "visit.moved": _l("visit moved"), "visit.confirmed": _l("visit confirmed"),
    "visit.done": _l("visit done"), "visit.missed": _l("visit missed"), "visit.cancelled": _l("visit cancelled"),
    "visit.scheduled": _l("visit reinstated"), "visit.shifted": _l("visit moved along with an earlier one"),
    "questionnaire.link_resent": _l("questionnaire link sent again"), "reply.handled": _l("reply handled"),
    "reply.sent": _l("reply sent"), "thread.done": _l("conversation marked done"),
    "phone.opted_out": _l("number opted out"), "phone.opted_in": _l("number opted in"),
    "phone.unreachable": _l("number unreachable"), "phone.reachable": _l("number reachable again"),
    "export.downloaded": _l("export downloaded"), "consent.reconsent": _l("consent taken again"),
    "oncall.shift_added": _l("on-call shift added"), "oncall.shift_removed": _l("on-call shift removed"),
    "staff.created": _l("staff account created"), "staff.invited": _l("staff member invited"),
    "staff.role_changed": _l("staff role changed"), "staff.deactivated": _l("staff account closed"),
    "staff.password_changed": _l("password changed"), "staff.locked": _l("staff account locked"),
    "staff.two_factor_enrolled": _l("second factor set up"), "staff.two_factor_reset": _l("second factor reset"),
    "staff.recovery_code_used": _l("recovery code used"), "staff.invitation_accepted": _l("invitation accepted"),
    "sms.route_stopped": _l("text route stopped"), "sms.route_restarted": _l("text route restarted"),
}


FAMILY_LABELS = {
    "alert": _l("alerts"), "participant": _l("participants"), "contact": _l("contacts' text settings"),
    "visit": _l("visits"),
    "questionnaire": _l("questionnaires"), "reply": _l("replies"), "phone": _l("phone numbers"),
    "consent": _l("consent"), "export": _l("exports"), "oncall": _l("on-call rota"), "staff": _l("staff accounts"),
    "sms": _l("text routes"), "thread": _l("text conversations"),
}


def action_words(action):
    """Name an audit action in the page language ('alert resolved'), or by its code when new."""
    if action in ACTIONS:
        return ACTIONS[action]
    if action.startswith("consent.withdrawn."):
        return _l("consent withdrawn: %(scope)s", scope=action.rpartition(".")[2])
    return action


def actor_words(actor):
    """Name who acted: a staff member by email, the system and the demo in words."""
    if actor.startswith("staff:"):
        return actor.partition(":")[2]
    return {"system": _l("the system"), "demo": _l("demo data")}.get(actor, actor)


def value_words(key, value, name_rule, label):
    """Say one recorded value: rule ids by their label, enum values translated, lists joined."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(_l("yes") if value else _l("no"))
    if isinstance(value, list):
        return ", ".join(value_words(key, v, name_rule, label) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k} {value_words(k, v, name_rule, label)}" for k, v in value.items())
    if isinstance(value, str) and key in ("rule", "rules") and ":" in value:
        return name_rule(value)
    return str(label(value)) if isinstance(value, str) else str(value)


def changes(data, name_rule, label):
    """Return [(field, value in words)] of an event's before or after."""
    if not isinstance(data, dict):
        return [] if data is None else [("", str(data))]
    return [(key.replace("_", " "), value_words(key, value, name_rule, label)) for key, value in data.items()]
