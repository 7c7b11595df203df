"""Every staff page, with the demo study loaded, reads as words: no rule ids, no JSON, no bare UTC.

The pages are the ones a nurse, an investigator and an administrator reach from the menu and
from the demo participants' pages, in English and in zh-CN.
"""

import re

import pytest
from conftest import NOW
from sqlalchemy import select

from pro_app import alerts
from pro_app.alerts.models import Alert
from pro_app.db import db
from pro_app.demo import DEMO_PASSWORD, load_demo
from pro_app.participants.models import Participant
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires.models import Response
from pro_app.visits.models import Visit

RULE_ID = re.compile(r"\b[a-z][a-z0-9-]+:[a-z][a-z0-9_]+\b")
BARE_UTC = re.compile(r"\bUTC\b")
OCCASION = re.compile(r"\b(?:infusion|weekly|week|baseline|eot)-w?\d+\b")


def load_the_demo(app):
    with app.test_request_context():
        load_demo(db.session, current_protocol(), current_instruments(), NOW, app.config["PUBLIC_URL"],
                  alerts.settings(app.config))
        db.session.commit()


def staff_pages(app):
    """Return every staff page's path with the demo data: lists, each participant's pages, alerts, responses."""
    paths = ["/staff/alerts/", "/staff/participants/", "/staff/questionnaires", "/staff/inbox", "/staff/audit/",
             "/staff/exports/", "/staff/oncall/", "/staff/admin/", "/staff/sms/routes", "/staff/overview"]
    with app.app_context():
        for sid in db.session.scalars(select(Participant.study_id).order_by(Participant.id)):
            paths += [f"/staff/participants/{sid}", f"/staff/participants/{sid}/questionnaires",
                      f"/staff/participants/{sid}/messages", f"/staff/participants/{sid}/audit",
                      f"/staff/participants/{sid}/timeline", f"/staff/participants/{sid}/consent"]
        paths += [f"/staff/alerts/{i}" for i in db.session.scalars(select(Alert.id).order_by(Alert.id))]
        paths += [f"/staff/responses/{i}" for i in db.session.scalars(select(Response.id).order_by(Response.id))]
        paths += [f"/staff/visits/{i}" for i in db.session.scalars(select(Visit.id).order_by(Visit.id).limit(5))]
    return paths


def sign_in(client, email, lang):
    client.get(f"/lang/{lang}")
    response = client.post("/staff/login", data={"email": email, "password": DEMO_PASSWORD})
    assert response.status_code == 303, response.get_data(as_text=True)


def visible_text(html):
    """The page's text without tags, scripts, styles and attribute values (ids may live in URLs)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_staff_page_reads_as_words(app, client, lang):
    load_the_demo(app)
    sign_in(client, "admin@example.org", lang)
    problems = []
    for path in staff_pages(app):
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        text = visible_text(html)
        for name, pattern in (("rule id", RULE_ID), ("bare UTC", BARE_UTC), ("occasion id", OCCASION)):
            found = pattern.search(text)
            if found:
                problems.append(f"{path}: {name} {text[max(0, found.start() - 60):found.end() + 40]!r}")
        if '{"' in html or "{&#34;" in html or "{&quot;" in html:
            problems.append(f"{path}: JSON")
    assert not problems, "\n".join(problems)
