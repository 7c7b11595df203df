"""Invitations due together for one contact go as one text, with one link to a list of them."""


from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import selectinload

from pro_app.clock import to_local
from pro_app.i18n import SENT_TOGETHER
from pro_app.questionnaires.models import OPEN_ASSIGNMENT, Assignment, QuestionnaireLink
from pro_app.questionnaires.operations import LINK, TITLE_CHARACTERS
from pro_app.reminders.quiet import next_allowed
from pro_app.reminders.texts import render
from pro_app.sms.models import Message, MessageState
from pro_app.tokens import lookup_hash, new_token

#: An invitation to one questionnaire, and the text that invites to several at once.
INVITE = "questionnaire_invite"
TOGETHER = "questionnaire_invites"
#: How the titles are joined in a text, per language.
TITLE_SEPARATOR = {"zh-CN": "、", "en": ", "}


def merged_reason(message_id):
    """Say, on an invitation that went inside another text, which text carried it."""
    return f"{SENT_TOGETHER}{message_id}"


def together_params(language, *, site, titles, deadline):
    """Return the parameters of one text naming several questionnaires (titles in the order given)."""
    joined = TITLE_SEPARATOR[language].join(titles)
    return {"site": site, "count": str(len(titles)), "titles": joined, "deadline": deadline, "link": LINK}


def _cut(text, limit=TITLE_CHARACTERS):
    return text if len(text) <= limit else text[:limit - 1] + "…"


def combine_due(session, now):
    """Fold the invitations due by `now` to one contact into one text; return how many were folded in.

    Runs in the sender's tick before anything is claimed, so that invitations planned apart (or
    held by quiet hours until the same moment) reach the family as one text, whichever worker or
    thread would have sent each. One of them carries the others: it is rewritten to name them
    all, and each other is cancelled with the id of the text that carries it. Only pending
    invitations whose window is open are taken, locked as they are read (and skipped when another
    scheduler holds them); none during the contact's quiet hours, when each waits for the same
    moment and is folded in then.
    """
    window_open = exists().where(
        Assignment.id == Message.assignment_id, Assignment.state.in_(OPEN_ASSIGNMENT),
        Assignment.opens_at <= now, Assignment.closes_at > now)
    due = (Message.template == INVITE, Message.state == MessageState.PENDING, Message.due_at <= now,
           Message.contact_id.is_not(None), or_(Message.expires_at.is_(None), Message.expires_at > now),
           window_open)
    together = select(Message.contact_id).where(*due).group_by(Message.contact_id).having(func.count() > 1)
    messages = session.scalars(
        select(Message).where(*due, Message.contact_id.in_(together)).order_by(Message.id)
        .options(selectinload(Message.contact), selectinload(Message.assignment))
        .with_for_update(skip_locked=True, of=Message)).all()
    groups = {}
    for message in messages:
        groups.setdefault((message.contact_id, message.to_phone, message.language), []).append(message)
    folded = 0
    for group in groups.values():
        contact = group[0].contact
        if len({m.assignment_id for m in group}) < 2 or \
                next_allowed(now, contact.timezone, contact.quiet_start, contact.quiet_end) > now:
            continue
        # The one whose window closes last carries them: the sender drops a text whose window is over.
        carrier = max(group, key=lambda m: (m.assignment.closes_at, -m.id))
        others = [m for m in group if m is not carrier]
        _rewrite(carrier, {m.assignment_id: m for m in [*others, carrier]}.values())
        for other in others:
            other.state, other.state_reason, other.updated_at = MessageState.CANCELLED, merged_reason(carrier.id), now
        carrier.updated_at = now
        folded += len(others)
    session.flush()
    return folded


def _rewrite(message, invitations):
    """Make one invitation the text naming the questionnaires of these (one each, loaded with their assignments)."""
    assignments = sorted((m.assignment for m in invitations), key=lambda a: (a.closes_at, a.id))
    titles = {m.assignment_id: (m.params or {}).get("title") for m in invitations}
    language, params = message.language, message.params or {}
    named = [titles[a.id] or a.instrument_id for a in assignments]
    first_close = to_local(assignments[0].closes_at, message.contact.timezone).strftime("%m-%d %H:%M")
    body = render(TOGETHER, language, **together_params(language, site=params.get("site", ""), titles=named,
                                                         deadline=first_close))
    # Providers that send approved templates only take 35 characters per variable.
    message.params = {**body.params, "titles": _cut(body.params["titles"]),
                      "assignments": [a.id for a in assignments]}
    message.template, message.body = TOGETHER, str(body)
    # The text goes while any of them is still open.
    message.expires_at = max(a.closes_at for a in assignments)


def list_link(session, message, now):
    """Make the one link of a text naming several questionnaires; only its hash is stored.

    Each questionnaire gets a link of its own under the list's hash, so that a new link sent
    for one of them (staff "resend") closes it on the list too.
    """
    token, list_hash = new_token()
    for assignment_id in (message.params or {}).get("assignments") or [message.assignment_id]:
        session.add(QuestionnaireLink(assignment_id=assignment_id, token_hash=new_token()[1], list_hash=list_hash,
                                      created_at=now))
    return token


def listed(session, list_hash):
    """Return the links of a list (by its hash), soonest closing first; empty when there is none."""
    if not list_hash:
        return []
    return session.scalars(select(QuestionnaireLink).join(QuestionnaireLink.assignment)
                           .where(QuestionnaireLink.list_hash == list_hash)
                           .order_by(Assignment.closes_at, Assignment.id)).all()


def find_list(session, token):
    """Return the links of the list a token opens, or an empty list."""
    return listed(session, lookup_hash(token))
