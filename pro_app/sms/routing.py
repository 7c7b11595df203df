"""Which provider carries which number (PRO_SMS_ROUTES), and routes stopped until a person acts."""

import logging
import time
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from pro_app.audit.operations import SYSTEM, Actor, record
from pro_app.sms.models import Message, MessageState, SmsRoute

log = logging.getLogger(__name__)

BACKENDS = ("console", "twilio", "aliyun")
ROUTE_LABELS = {"console": "console", "twilio": "Twilio", "aliyun": "阿里云 Alibaba Cloud"}
#: How long a text waits before looking again at a stopped route.
HOLD = timedelta(minutes=15)
#: A worker may send for a few seconds after another one stopped the route: the provider
#: refuses those too and they are held like the first.
STOPPED_FRESH_SECONDS = 2.0
STOPPED_KEY = "pro_stopped_routes"


def parse_routes(spec, default):
    """Parse `+86:aliyun,*:twilio` into (prefix, backend) pairs, longest prefix first."""
    rules = []
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        prefix, sep, backend = part.partition(":")
        prefix, backend = prefix.strip(), backend.strip()
        if not sep or backend not in BACKENDS or not (prefix == "*" or prefix[1:].isdigit() and prefix[0] == "+"):
            raise ValueError(f"PRO_SMS_ROUTES: {part!r} is not PREFIX:BACKEND "
                             f"(e.g. +86:aliyun,*:twilio; backends: {', '.join(BACKENDS)})")
        rules.append((prefix, backend))
    if not any(p == "*" for p, _ in rules):
        rules.append(("*", default))
    return sorted(rules, key=lambda r: (r[0] == "*", -len(r[0])))


def route_for(rules, phone):
    """Return the backend that serves a number."""
    for prefix, backend in rules:
        if prefix == "*" or phone.startswith(prefix):
            return backend
    return rules[-1][1]


def route_of_phone(config, phone):
    """Return which backend serves a number under this configuration (for the contact pages)."""
    return route_for(parse_routes(config.get("SMS_ROUTES"), config["SMS_BACKEND"]), phone)


class RoutedGateway:
    """Send each text through the backend its number's route names."""

    name = "routed"

    def __init__(self, rules, backends):
        self.rules, self.backends = rules, backends

    def route(self, phone):
        return route_for(self.rules, phone)

    def send(self, to, body, status_callback=None, message=None):
        backend = self.route(to)
        result = self.backends[backend].send(to, body, status_callback=status_callback, message=message)
        return replace(result, route=backend)


def route_name(gateway, phone):
    """Return the route a gateway uses for a number."""
    return gateway.route(phone) if hasattr(gateway, "route") else gateway.name


def is_stopped(session, route):
    """Tell whether a route is stopped (read at most every few seconds per session, not per text)."""
    cached = session.info.get(STOPPED_KEY)
    if cached is None or time.monotonic() - cached[0] > STOPPED_FRESH_SECONDS:
        names = set(session.scalars(select(SmsRoute.name).where(SmsRoute.stopped_at.is_not(None))))
        cached = session.info[STOPPED_KEY] = (time.monotonic(), names)
    return route in cached[1]


def parse_limits(spec):
    """Parse `1/minute,5/hour,40/day` into (count, window) pairs."""
    units = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
    limits = []
    for part in str(spec or "").split(","):
        if not part.strip():
            continue
        count, _, unit = part.strip().partition("/")
        if not count.strip().isdigit() or int(count) < 1 or unit.strip() not in units:
            raise ValueError(f"PRO_ALIYUN_NUMBER_LIMITS: {part.strip()!r} is not COUNT/second|minute|hour|day")
        limits.append((int(count), timedelta(seconds=units[unit.strip()])))
    return limits


def free_at(attempts, limits, now):
    """Return when a number may get its next text under per-number limits, or None if it may now.

    `attempts` are the instants texts to the number were handed to the provider (pure).
    """
    until = None
    for count, window in limits:
        recent = sorted((t for t in attempts if now - window < t <= now), reverse=True)
        if len(recent) >= count:
            free = recent[count - 1] + window  # when the oldest text that counts leaves the window
            until = free if until is None else max(until, free)
    return until


def limits_of(gateway, route):
    """Return the per-number limits of the backend serving a route."""
    backend = gateway.backends.get(route) if hasattr(gateway, "backends") else gateway
    return getattr(backend, "number_limits", None) or []


def number_free_at(session, gateway, route, phone, now):
    """Return when the provider's per-number limits let this number get another text (None: now)."""
    limits = limits_of(gateway, route)
    if not limits:
        return None
    longest = max(window for _, window in limits)
    attempts = session.scalars(select(Message.attempted_at).where(
        Message.to_phone == phone, Message.route == route,
        Message.attempted_at > now - longest, Message.attempted_at <= now)).all()
    return free_at(attempts, limits, now)


def wait_for_route(session, gateway, message, now):
    """Hold a claimed text whose route is stopped, or defer it past the provider's per-number limits."""
    route = route_name(gateway, message.to_phone)
    if is_stopped(session, route):
        return route, hold(message, now)  # until an admin restarts the route (balance, template approval)
    until = number_free_at(session, gateway, route, message.to_phone, now)
    if until is not None:
        # Respected here, never discovered as the provider's flow-control refusal.
        hold(message, now, reason="per-number limit", until=until)
        return route, "deferred"
    return route, None


def stopped_routes(session):
    """Return the stopped routes, for the staff banner."""
    return session.scalars(select(SmsRoute).where(SmsRoute.stopped_at.is_not(None)).order_by(SmsRoute.name)).all()


def held(now, attempts, reason="route stopped", until=None):
    """Return the values that put a text back to wait for its route, without counting an attempt (pure)."""
    return {"state": MessageState.PENDING, "state_reason": reason, "due_at": until or now + HOLD,
            "claimed_at": None, "claimed_by": None, "attempted_at": None, "attempts": max(0, attempts - 1),
            "updated_at": now}


def hold(message, now, reason="route stopped", until=None):
    """Put a text back to wait for its route, without counting an attempt."""
    for column, value in held(now, message.attempts, reason, until).items():
        setattr(message, column, value)
    return "held"


def stop_route(session, route, *, code, reason, now):
    """Stop a route (out of balance, template or signature refused) and tell the admins at once."""
    from pro_app.db import insert_new

    session.execute(insert_new(session, SmsRoute, ["name"]).values(name=route, updated_at=now))
    row = session.scalar(select(SmsRoute).where(SmsRoute.name == route).execution_options(populate_existing=True))
    if row.stopped_at is not None:
        return row
    row.stopped_at, row.stop_code, row.stop_reason, row.updated_at = now, code[:60], reason[:200], now
    session.info.pop(STOPPED_KEY, None)
    record(session, actor=SYSTEM, action="sms.route_stopped", entity="sms_route", now=now,
           after={"route": route, "code": code})
    log.error("SMS route %s stopped: %s", route, code)
    _tell_admins(session, route, code, now)
    session.flush()
    return row


def restart_route(session, route, *, actor: Actor, now):
    """Let texts flow on a stopped route again (after topping up or approval)."""
    row = session.get(SmsRoute, route)
    if row is None or row.stopped_at is None:
        return False
    before = {"route": route, "stopped_at": row.stopped_at.isoformat(), "code": row.stop_code}
    row.stopped_at = row.stop_code = row.stop_reason = None
    row.updated_at = now
    session.info.pop(STOPPED_KEY, None)
    record(session, actor=actor, action="sms.route_restarted", entity="sms_route", now=now,
           before=before, after={"route": route})
    session.flush()
    return True


def _tell_admins(session, route, code, now):
    from flask import current_app, has_app_context

    from pro_app.reminders.operations import enqueue, message_row
    from pro_app.reminders.texts import render
    from pro_app.staff.models import StaffRole, StaffUser

    if not has_app_context():
        return
    from pro_app.protocol import current_protocol

    protocol, public_url = current_protocol(), current_app.config["PUBLIC_URL"].rstrip("/")
    admins = session.scalars(select(StaffUser).where(
        StaffUser.active.is_(True), StaffUser.phone.is_not(None), StaffUser.role == StaffRole.ADMIN)).all()
    rows = []
    for person in admins:
        lang = person.language if person.language in protocol.site_name else "zh-CN"
        rows.append(message_row(
            key=f"route:{route}:{now.isoformat()}:s{person.id}", participant_id=None, contact_id=None,
            phone=person.phone, template="staff_route_stopped", language=lang, due_at=now,
            ignore_quiet_hours=True, now=now,
            body=render("staff_route_stopped", lang, site=protocol.site_name[lang], route=route, code=code,
                        url=f"{public_url}/staff/sms/routes"),
        ))
    enqueue(session, rows)


def init_app(app):
    """Check the routes and, when Alibaba carries any, its templates: a mistake stops the app."""
    from pro_app.config import ConfigError
    from pro_app.datafiles import DataFileError
    from pro_app.protocol import current_protocol
    from pro_app.sms.templates import load_checked

    try:
        rules = parse_routes(app.config.get("SMS_ROUTES"), app.config["SMS_BACKEND"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    app.extensions["pro_sms_templates"] = None
    if any(backend == "aliyun" for _, backend in rules):
        with app.app_context():
            protocol = current_protocol()
        try:
            app.extensions["pro_sms_templates"] = load_checked(
                app.config.get("SMS_TEMPLATES_FILE"), public_url=app.config["PUBLIC_URL"],
                site_phone=protocol.site_phone,
                sign_name=app.config.get("ALIYUN_SIGN_NAME") or protocol.site_name["zh-CN"])
        except DataFileError as exc:
            raise ConfigError(f"the aliyun SMS route needs approved templates that pass "
                              f"`pro-app sms templates check`: {exc}") from None
    from pro_app.sms import route_views

    @app.template_global("sms_route")
    def _sms_route(phone):
        return ROUTE_LABELS.get(route_for(rules, phone), "—")

    app.register_blueprint(route_views.bp)
