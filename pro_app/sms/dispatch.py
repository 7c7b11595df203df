"""Sending the outbox: claim due texts atomically, send each once, record what happened."""

import logging
import threading
import time as clock
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cache, partial

from sqlalchemy import String, bindparam, cast, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.pool import StaticPool

from pro_app.participants.models import Contact, Participant, ParticipantStatus
from pro_app.questionnaires import invitations
from pro_app.questionnaires.operations import LINK, new_link
from pro_app.reminders.operations import CALENDAR_LINK, PREFERENCES_LINK, WEBCAL_LINK, new_calendar_token
from pro_app.reminders.preferences import new_preferences_token
from pro_app.reminders.quiet import next_allowed
from pro_app.sms import workers
from pro_app.sms.inbound import STOP_CONFIRMATION
from pro_app.sms.models import Message, MessageState, PhoneNumber
from pro_app.sms.operations import mark_unreachable, opt_out
from pro_app.sms.routing import held, stop_route, wait_for_route
from pro_app.visits.models import OPEN_STATUSES, Visit

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 6

#: Set on SIGTERM: finish the text in hand, hand the rest back, claim nothing more.
STOPPING = threading.Event()


@dataclass(frozen=True)
class Decision:
    action: str  # send, defer or drop
    until: object = None
    reason: str | None = None


def decide(*, now, expires_at, phone, participant_active, ignore_quiet_hours, quiet=None,
           assignment_open=None):
    """Decide whether a due text goes now, waits for the end of quiet hours, or is dropped.

    `quiet` is (zone, start, end) for patient and family texts, None for staff texts;
    `assignment_open` is False when the questionnaire a text invites to is answered or closed.
    """
    if expires_at is not None and now >= expires_at:
        return Decision("drop", reason="stale")
    if assignment_open is False:
        return Decision("drop", reason="questionnaire answered or closed")
    if phone is not None and phone.opted_out_at is not None:
        return Decision("drop", reason="opted out")
    if phone is not None and phone.unreachable_at is not None:
        return Decision("drop", reason="number unreachable")
    if participant_active is False:
        return Decision("drop", reason="participant not active")
    if quiet is not None and not ignore_quiet_hours:
        allowed = next_allowed(now, *quiet)
        if allowed > now:
            if expires_at is not None and allowed >= expires_at:
                return Decision("drop", reason="stale")
            return Decision("defer", until=allowed)
    return Decision("send")


def backoff(attempts):
    """Wait before retrying a send the gateway refused for now (rate limit, no connection)."""
    return timedelta(seconds=min(600, 5 * 2 ** max(0, attempts - 1)))


class RateLimiter:
    """Space sends to at most `rate` per second from this process (0: no cap)."""

    def __init__(self, rate, monotonic=clock.monotonic, sleep=clock.sleep):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self.next_slot = 0.0
        self.monotonic, self.sleep = monotonic, sleep
        self.lock = threading.Lock()

    def wait(self):
        if not self.interval:
            return
        with self.lock:  # the sending threads share one rate
            now = self.monotonic()
            if self.next_slot > now:
                self.sleep(self.next_slot - now)
            self.next_slot = max(self.next_slot, now) + self.interval


@dataclass
class DispatchSummary:
    counts: dict = field(default_factory=dict)

    def add(self, key, n=1):
        if n:
            self.counts[key] = self.counts.get(key, 0) + n

    def __str__(self):
        return ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items())) or "nothing due"


def _bulk(session, stmt):
    return session.execute(stmt.execution_options(synchronize_session=False)).rowcount


def recover_claims(session, now, lease, worker=None):
    """Hand back texts a dead worker claimed but never tried; mark those it was sending unknown.

    A claim is abandoned once its lease has passed, or at once when its worker is known dead.
    """
    cutoff = now - lease
    owner_of = func.substr(Message.claimed_by, 1, workers.WIDTH)
    tracked = session.scalars(select(owner_of).distinct().where(
        Message.state == MessageState.SENDING, or_(Message.claimed_by.startswith("L"),
                                                   Message.claimed_by.startswith("P")),
    )).all()
    dead = sorted(workers.dead_workers(session, set(tracked) - {worker}))
    gone = [owner_of.in_(dead)] if dead else []
    handed_back = _bulk(session, update(Message).where(
        Message.state == MessageState.SENDING, Message.attempted_at.is_(None),
        or_(Message.claimed_at < cutoff, *gone),
    ).values(state=MessageState.PENDING, claimed_at=None, claimed_by=None, updated_at=now))
    interrupted = _bulk(session, update(Message).where(
        Message.state == MessageState.SENDING, Message.attempted_at.is_not(None),
        or_(Message.attempted_at < cutoff, *gone),
    ).values(state=MessageState.UNKNOWN, state_reason="interrupted while sending", updated_at=now))
    return handed_back, interrupted


def hand_back(session, owner, now):
    """Return this run's claimed, untried texts to the queue (on SIGTERM or an error)."""
    return _bulk(session, update(Message).where(
        Message.claimed_by == owner, Message.state == MessageState.SENDING, Message.attempted_at.is_(None),
    ).values(state=MessageState.PENDING, claimed_at=None, claimed_by=None, attempts=Message.attempts - 1,
             updated_at=now))


def drop_stale(session, now):
    """Drop pending texts that are no longer useful (their visit began, their window closed)."""
    return _bulk(session, update(Message).where(
        Message.state == MessageState.PENDING, Message.expires_at <= now,
    ).values(state=MessageState.SUPPRESSED, state_reason="stale", updated_at=now))


def claim(session, now, limit, owner, stamp=None, ids=None):
    """Atomically take up to `limit` texts due by `now` for `owner`, staff texts first; never two workers the same."""
    due = (
        select(Message.id)
        .where(Message.state == MessageState.PENDING, Message.due_at <= now,
               *([Message.id.in_(ids)] if ids is not None else []))
        # Staff texts (red alerts, rota gaps: no contact) jump the queue.
        .order_by(Message.contact_id.is_not(None), Message.due_at, Message.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        # Evaluated once: as a correlated subquery PostgreSQL may rerun it per row and
        # ignore the LIMIT, letting one worker take the whole backlog.
        .cte("due")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    stmt = (
        update(Message)
        .where(Message.id.in_(select(due.c.id)), Message.state == MessageState.PENDING)
        .values(state=MessageState.SENDING, claimed_at=stamp or now, claimed_by=owner,
                attempts=Message.attempts + 1, updated_at=stamp or now)
        .returning(Message.id, Message.contact_id, Message.due_at)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(stmt).all()
    return [r.id for r in sorted(rows, key=lambda r: (r.contact_id is not None, r.due_at, r.id))]


def _revision_of_key():
    return literal(":r") + cast(Visit.revision, String) + literal(":")


def still_true():
    """Return the conditions a claimed text must still meet when it goes (one SQL expression).

    A visit's texts carry its revision in their key: a visit moved, cancelled or marked since
    they were written has a newer one. Reminders also need the visit still open.
    """
    about_visit = or_(Message.dedupe_key.startswith("visit:"), Message.dedupe_key.startswith("change:visit:"))
    return (
        or_(Message.visit_id.is_(None), ~about_visit, exists().where(
            Visit.id == Message.visit_id, Message.dedupe_key.contains(_revision_of_key()),
            or_(Visit.status.in_(OPEN_STATUSES), ~Message.dedupe_key.startswith("visit:")),
        )),
        or_(Message.participant_id.is_(None), exists().where(
            Participant.id == Message.participant_id, Participant.status == ParticipantStatus.ACTIVE)),
        or_(Message.contact_id.is_(None), exists().where(
            Contact.id == Message.contact_id, Contact.consent_at.is_not(None))),
        or_(Message.template == STOP_CONFIRMATION, ~exists().where(
            PhoneNumber.phone == Message.to_phone,
            or_(PhoneNumber.opted_out_at.is_not(None), PhoneNumber.unreachable_at.is_not(None)))),
    )


STALE_REASONS = ("visit changed", "participant not active", "no consent to texts", "opted out or unreachable")


@cache
def _attempt():
    # Built once: the conditions make a large statement, and building it (and its cache key)
    # for every text cost more than running it.
    return update(Message).where(
        Message.id == bindparam("message_id"), Message.state == MessageState.SENDING,
        Message.claimed_by == bindparam("owner"), Message.attempted_at.is_(None), *still_true(),
    ).values(attempted_at=bindparam("at"), updated_at=bindparam("at"))


def mark_attempted(session, message_id, owner, now):
    """Record that `owner` is about to send, if the text still holds; False when it must not go.

    One statement checks the claim (not recovered meanwhile) and that the text is still true.
    """
    session.flush()
    return session.connection().execute(_attempt(), {"message_id": message_id, "owner": owner, "at": now}).rowcount == 1


def cancel_if_stale(session, message_id, owner, now):
    """Cancel a claimed text that no longer holds, with the first reason that applies; return it."""
    mine = (Message.id == message_id, Message.state == MessageState.SENDING, Message.claimed_by == owner,
            Message.attempted_at.is_(None))
    for reason, condition in zip(STALE_REASONS, still_true(), strict=True):
        if _bulk(session, update(Message).where(*mine, ~condition).values(
                state=MessageState.CANCELLED, state_reason=reason, claimed_at=None, claimed_by=None,
                updated_at=now)):
            return reason
    return None


def _quiet_of(message):
    contact = message.contact
    if contact is None:
        return None
    return contact.timezone, contact.quiet_start, contact.quiet_end


def send_one(session, message_id, gateway, *, now, owner, public_url, limiter, phones):
    """Decide, send and record one claimed text that load_batch put in the session; commits once, before sending.

    Its result is written in the caller's next transaction (the next text's commit, or the
    batch's): a crash before that leaves it "outcome unknown", never sent twice. `phones` are
    the batch's numbers, from load_batch.
    """
    message = session.get(Message, message_id)
    phone = None if message is None else phones.get(message.to_phone)
    if message is None or message.state != MessageState.SENDING or message.claimed_by != owner:
        return "skipped"
    participant = message.participant
    assignment = message.assignment
    decision = decide(
        now=now, expires_at=message.expires_at, phone=None if message.template == STOP_CONFIRMATION else phone,
        participant_active=participant.is_active if participant is not None else None,
        ignore_quiet_hours=message.ignore_quiet_hours, quiet=_quiet_of(message),
        assignment_open=assignment.is_open_at(now) if assignment is not None else None,
    )
    if decision.action == "drop":
        message.updated_at = now
        message.state, message.state_reason = MessageState.SUPPRESSED, decision.reason
        session.commit()
        return "dropped " + decision.reason
    if decision.action == "defer":
        message.updated_at = now
        message.state, message.due_at = MessageState.PENDING, decision.until
        message.claimed_at = message.claimed_by = None
        message.state_reason = "quiet hours"
        session.commit()
        return "deferred"
    route, waiting = wait_for_route(session, gateway, message, now)
    if waiting:
        session.commit()
        return waiting

    # Wait for the rate before the last check, so that nothing changes unseen in between.
    limiter.wait()
    # Record the attempt before the request: after a crash this text is "unknown", never resent.
    # The update is conditional, so a claim recovered by another worker is not sent here too,
    # nor a text its visit, participant or contact no longer bears out.
    if not mark_attempted(session, message.id, owner, now):
        reason = cancel_if_stale(session, message.id, owner, now)
        session.commit()
        return f"cancelled {reason}" if reason else "skipped"
    unsent = message.body
    body, tokens = fill_links(session, message, public_url, now)
    if tokens:
        # A link's token exists only in the text itself; the outbox keeps it shortened,
        # except with the console gateway, whose outbox is the demo phone's inbox.
        message.body = body if gateway.name == "console" else _shortened(body, tokens)
    session.commit()
    set_committed_value(message, "attempted_at", now)
    set_committed_value(message, "updated_at", now)
    # No transaction is open during the request: on SQLite it would hold the write lock.
    result = gateway.send(message.to_phone, body, status_callback=f"{public_url}/sms/status", message=message)
    result = replace(result, route=result.route or route)
    outcome = apply_result(session, message, result, now)
    if outcome == "retried":
        message.body = unsent  # the next attempt makes fresh links: these never reached the phone
    return outcome


def fill_links(session, message, public_url, now):
    """Put fresh link tokens in a text about to go; return its body and the tokens.

    Each token exists only in the text itself: what is stored is its hash.
    """
    body, tokens, contact = message.body, [], message.contact
    if LINK in body and message.template == invitations.TOGETHER:
        tokens.append(invitations.list_link(session, message, now))
        body = body.replace(LINK, f"{public_url}/q/{tokens[-1]}")
    elif LINK in body and message.assignment_id is not None:
        tokens.append(new_link(session, message.assignment_id, now))
        body = body.replace(LINK, f"{public_url}/q/{tokens[-1]}")
    if CALENDAR_LINK in body and contact is not None:
        tokens.append(new_calendar_token(contact))
        body = body.replace(CALENDAR_LINK, f"{public_url}/cal/{tokens[-1]}.ics")
        body = body.replace(WEBCAL_LINK, f"webcal://{public_url.split('://', 1)[-1]}/cal/{tokens[-1]}.ics")
    if PREFERENCES_LINK in body and contact is not None:
        tokens.append(new_preferences_token(contact, now))
        body = body.replace(PREFERENCES_LINK, f"{public_url}/p/{tokens[-1]}")
    return body, tokens


def load_batch(session, ids):
    """Load claimed texts with what decide() needs in a few statements; return them and their numbers."""
    messages = session.scalars(
        select(Message).where(Message.id.in_(ids))
        .options(selectinload(Message.participant), selectinload(Message.contact),
                 selectinload(Message.assignment))
        .execution_options(populate_existing=True)
    ).all()
    to = {m.to_phone for m in messages}
    phones = {p.phone: p for p in session.scalars(
        select(PhoneNumber).where(PhoneNumber.phone.in_(to)).execution_options(populate_existing=True))}
    return messages, phones


def send_batch(session, ids, gateway, *, now, owner, public_url, limiter, summary):
    """Send claimed texts in order; record the last result before returning."""
    try:
        # Held here: the session's identity map keeps only weak references.
        _messages, phones = load_batch(session, ids)
        for message_id in ids:
            if STOPPING.is_set():
                break
            summary.add(send_one(session, message_id, gateway, now=now, owner=owner, public_url=public_url,
                                 limiter=limiter, phones=phones))
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _shortened(body, tokens):
    for token in tokens:
        body = body.replace(token, token[:4] + "…")
    return body


def result_values(result, attempts, now):
    """Return (outcome, the text's new values) for what the gateway said about it (pure)."""
    values = {"error_code": result.error_code, "error_message": result.error_message, "route": result.route,
              "updated_at": now}
    if result.outcome == "held":
        # Refused before sending (out of balance, template not approved): nothing reached the phone.
        return "retried", values | held(now, attempts)
    if result.outcome == "sent":
        return "sent", values | {"state": MessageState.SENT, "provider_sid": result.provider_sid, "sent_at": now,
                                 "state_reason": None}
    if result.outcome == "retry":
        if attempts >= MAX_ATTEMPTS:
            return "failed", values | {"state": MessageState.FAILED,
                                       "state_reason": f"gave up after {attempts} attempts"}
        return "retried", values | {"state": MessageState.PENDING, "state_reason": "retrying",
                                    "due_at": now + backoff(attempts), "claimed_at": None, "claimed_by": None,
                                    "attempted_at": None}
    if result.outcome == "unknown":
        return "unknown", values | {"state": MessageState.UNKNOWN, "state_reason": "outcome unknown"}
    return "failed", values | {"state": MessageState.FAILED, "state_reason": "refused by the gateway"}


@cache
def _update(columns):
    return update(Message).where(Message.id == bindparam("message_id")).values(
        {column: bindparam(f"new_{column}") for column in columns})


def apply_result(session, message, result, now):
    """Store what the gateway said about a text; flag numbers that must get nothing more.

    One UPDATE built once per set of columns writes it, rather than a flush of the unit of work,
    which took twice the time; the loaded text shows the new values too.
    """
    outcome, values = result_values(result, message.attempts, now)
    if result.outcome == "held":
        stop_route(session, result.route, code=(result.error_message or "").split(":")[0],
                   reason=result.error_message or "", now=now)
    elif result.outcome == "failed" and result.opted_out:
        opt_out(session, message.to_phone, source=f"error {result.error_code}", now=now)
    elif result.outcome == "failed" and result.unreachable:
        mark_unreachable(session, message.to_phone, code=result.error_code, now=now)
    session.connection().execute(_update(tuple(sorted(values))), {
        "message_id": message.id, **{f"new_{column}": value for column, value in values.items()}})
    for column, value in values.items():
        set_committed_value(message, column, value)
    return outcome


def dispatch(session, gateway, *, now, public_url, rate=0, batch=50, lease=timedelta(minutes=2),
             budget_seconds=50.0, worker=None, concurrency=1):
    """Send every due text once, as of `now`; returns a summary of what happened.

    `worker` (workers.worker_id) lets other workers free this one's claims as soon as it dies.
    With `concurrency` above 1, that many threads send a batch, each on a session of its own,
    since a text's time is mostly the provider's round trip.
    """
    summary = DispatchSummary()
    handed_back, interrupted = recover_claims(session, now, lease, worker)
    summary.add("handed back", handed_back)
    summary.add("unknown", interrupted)
    summary.add("dropped stale", drop_stale(session, now))
    # Invitations due together for one contact become one text before any is claimed.
    summary.add("invitations sent together", invitations.combine_due(session, now))
    session.commit()
    limiter = RateLimiter(rate)
    owner = workers.run_owner(worker)
    bind = session.get_bind()
    # A session bound to one connection (the tests' outer transaction) cannot be shared by threads.
    # Nor can an in-memory SQLite database, which lives in its one connection.
    shared = not hasattr(bind, "connect") or isinstance(bind.pool, StaticPool)
    threads = 1 if shared else max(1, concurrency)
    pool = ThreadPoolExecutor(threads, thread_name_prefix="sms-send") if threads > 1 else None
    send = partial(send_batch, gateway=gateway, now=now, owner=owner, public_url=public_url, limiter=limiter)
    started = clock.monotonic()
    try:
        while clock.monotonic() - started < budget_seconds and not STOPPING.is_set():
            # Stamp claims with the time they are made, not the tick's start, so that a long
            # tick's later batches do not look abandoned to other workers.
            stamp = now + timedelta(seconds=clock.monotonic() - started)
            ids = claim(session, now, batch, owner, stamp)
            session.commit()
            if not ids:
                break
            if shared:
                send(session, ids, summary=summary)
                continue
            if pool is None:
                _send_apart(bind, ids, send, summary)
                continue
            parts = [DispatchSummary() for _ in range(threads)]
            futures = [pool.submit(_send_apart, bind, ids[i::threads], send, parts[i])
                       for i in range(threads) if ids[i::threads]]
            for future in futures:
                future.result()
            for part in parts:
                for key, n in part.counts.items():
                    summary.add(key, n)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
        # Whatever stopped the run, its untried claims go back now rather than after the lease.
        session.rollback()
        summary.add("handed back on stop", hand_back(session, owner, now))
        session.commit()
    return summary


def _send_apart(bind, ids, send, summary):
    # One connection for the whole share: checking one out per commit costs a ping each time.
    with bind.connect() as connection, Session(bind=connection, expire_on_commit=False) as session:
        send(session, ids, summary=summary)


def send_now(session, gateway, ids, *, now, public_url):
    """Send these texts at once (a red alert right after its commit); the scheduler is the safety net."""
    owner = workers.run_owner(None)
    claimed = claim(session, now, len(ids), owner, ids=list(ids))
    session.commit()
    # Held here: the session's identity map keeps only weak references.
    _messages, phones = load_batch(session, claimed)
    outcomes = [send_one(session, message_id, gateway, now=now, owner=owner, public_url=public_url,
                         limiter=RateLimiter(0), phones=phones) for message_id in claimed]
    session.commit()
    return outcomes
