"""/p/<token>: a family chooses the evening reminder time and the language of their texts."""

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from pro_app import ratelimits
from pro_app.audit.operations import Actor
from pro_app.clock import utcnow
from pro_app.db import db
from pro_app.extensions import limiter
from pro_app.i18n import LOCALES
from pro_app.protocol import current_protocol
from pro_app.protocol.hotline import hotline
from pro_app.reminders.preferences import (
    choices_for,
    contact_by_token,
    evening_time_of,
    parse_form,
    set_preferences,
)

bp = Blueprint("preferences", __name__)
STATE_CODES = {"unknown": 404, "expired": 410}


@bp.after_request
def _private(response):
    # The URL carries the token: never cached, never sent to another site as a referrer (same-origin
    # still lets the browser name our own origin on the form's post, for the origin check).
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


def _page(contact, protocol, *, errors=None, code=200):
    return render_template("preferences/form.html", contact=contact, choices=choices_for(contact, protocol),
                           current=evening_time_of(contact, protocol), errors=errors or {},
                           hotline=hotline(protocol.site_phone)), code


def _state(state, contact=None):
    if contact is not None:
        g.respondent_language = contact.language
    return render_template("preferences/state.html", state=state,
                           hotline=hotline(current_protocol().site_phone)), STATE_CODES[state]


@bp.route("/p/<token>", methods=["GET", "POST"])
@limiter.limit(ratelimits.per_link, key_func=ratelimits.link_token)
@limiter.limit(ratelimits.links_per_address)
def edit(token):
    now = utcnow()
    contact, state = contact_by_token(db.session, token, now)
    if state != "open":
        return _state(state, contact)
    g.respondent_language = contact.language
    protocol = current_protocol()
    if request.method == "GET":
        return _page(contact, protocol)
    values, errors = parse_form(request.form, choices_for(contact, protocol))
    if errors:
        return _page(contact, protocol, errors=errors, code=400)
    changed = set_preferences(db.session, contact, protocol, actor=Actor(label=f"link:contact {contact.id}"),
                              now=now, reason="preferences link", **values)
    db.session.commit()
    # The family has said which language they read: the page follows at once.
    session["lang"] = contact.language
    with force_locale(LOCALES[contact.language]):
        flash(_("Saved. Reminders on the evening before a visit will come at %(time)s.",
                time=values["evening_time"].strftime("%H:%M")) if changed else _("Nothing was changed."))
    return redirect(url_for(".edit", token=token), code=303)

