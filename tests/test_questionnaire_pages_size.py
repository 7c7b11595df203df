"""Questionnaire pages stay small and self-contained for cheap phones on slow connections.

Every page a respondent sees (start, each section of every shipped instrument as first shown,
with errors, and with answers, review, done) must weigh under 30 KB: the HTML plus every
stylesheet it links. No page loads a script, and none names another host.
"""

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from pro_app.db import db
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment

LIMIT = 30 * 1024
START = date(2026, 3, 9)
INSTRUMENTS = ["baseline", "quality-of-life", "symptom-check", "post-infusion"]
URL = re.compile(rb"""(?:https?:)?//[^\s"'<>)]+""", re.IGNORECASE)
STYLESHEET = re.compile(rb"""<link\b[^>]*\brel=["']?stylesheet["']?[^>]*>""", re.IGNORECASE)
HREF = re.compile(rb"""\bhref=["']([^"']+)["']""")




@pytest.fixture
def respondents(make_participant):
    """Two families, one per language: each a 15-year-old who answers and a parent as proxy."""
    make_participant("P-ZH", start=START, lang="zh-CN", age="15", phone="+8613800138031",
                     caregivers=[{"phone": "+8613800138032", "name": "妈妈", "lang": "zh-CN"}])
    make_participant("P-EN", start=START, lang="en", age="15", phone="+447911123031",
                     caregivers=[{"phone": "+447911123032", "name": "Mum", "lang": "en"}])
    return ["+8613800138031", "+8613800138032", "+447911123031", "+447911123032"]


def longest_answers(item):
    """An answer that shows every follow-up question and makes the page as long as it gets."""
    if item.type == "single":
        return str(max(v for v, _label in item.choices))
    if item.type == "multiple":
        return [str(v) for v, _label in item.choices]
    if item.type == "yesno":
        return "yes"
    if item.type == "rating":
        return str(int(item.max))
    if item.type == "number":
        return f"{(item.min + item.max) / 2:.{item.decimals}f}"
    if item.type == "date":
        return "2026-01-15"
    return "痛" * min(item.max_length, 2000)  # three bytes each in UTF-8: the heaviest text


class Weigher:
    def __init__(self, client):
        self.client = client
        self.css = {}
        self.pages = []

    def weigh(self, name, response, statuses=(200, 400, 410)):
        assert response.status_code in statuses, (name, response.status_code)
        html = response.get_data()
        links = [HREF.search(tag).group(1).decode() for tag in STYLESHEET.findall(html)]
        assert links, f"{name}: no stylesheet linked"
        css = 0
        for href in links:
            assert href.startswith("/") and not href.startswith("//"), (name, href)
            if href not in self.css:
                sheet = self.client.get(href)
                assert sheet.status_code == 200, href
                body = sheet.get_data()
                assert not re.search(rb"@import|url\(\s*['\"]?(https?:)?//", body), f"{href} loads from elsewhere"
                self.css[href] = len(body)
            css += self.css[href]
        self.pages.append((name, len(html), css))
        assert len(html) + css < LIMIT, f"{name}: {len(html)} B of HTML + {css} B of CSS is over {LIMIT} B"
        assert b"<script" not in html.lower(), f"{name} has a script; the pages work without any"
        foreign = [u for u in URL.findall(html) if not u.lower().startswith((b"http://localhost/", b"//localhost/"))]
        assert not foreign, f"{name} names other hosts: {foreign}"
        return response


@pytest.mark.parametrize("instrument_id", INSTRUMENTS)
def test_every_page_is_small_and_self_contained(app, clock, respondents, instrument_id):
    instrument = app.extensions["pro_instruments"][instrument_id]
    weighed = []
    for number in respondents:
        with app.app_context():
            a = db.session.scalar(select(Assignment).where(Assignment.instrument_id == instrument_id)
                                  .where(Assignment.contact.has(phone=number)).order_by(Assignment.opens_at))
            assert a is not None, (instrument_id, number)
            clock.now = a.opens_at + timedelta(minutes=1)
            token = ops.new_link(db.session, a.id, clock.now)
            db.session.commit()
            who = f"{instrument_id}/{a.contact.language}/{a.respondent}"
        client = app.test_client()
        w = Weigher(client)
        w.weigh(f"{who} start", client.get(f"/q/{token}"))
        assert client.post(f"/q/{token}").status_code == 303
        for index, section in enumerate(instrument.sections):
            w.weigh(f"{who} section {index + 1}", client.get(f"/q/answer?s={index}"))
            w.weigh(f"{who} section {index + 1} with errors",
                    client.post("/q/answer", data={"s": str(index), **{i.id: "?" for i in section.items}}),
                    statuses=(400,))
            answers = {i.id: longest_answers(i) for i in section.items}
            answers.update({f"{i.id}__unit": "C" for i in section.items if i.unit == "temperature"})
            saved = client.post("/q/answer", data={"s": str(index), **answers})
            assert saved.status_code == 303, saved.get_data(as_text=True)
            w.weigh(f"{who} section {index + 1} answered", client.get(f"/q/answer?s={index}"))
        review = w.weigh(f"{who} review", client.get("/q/review"))
        key = re.search(r'name="submit_key" value="([^"]+)"', review.get_data(as_text=True)).group(1)
        assert client.post("/q/submit", data={"submit_key": key}).status_code == 303
        w.weigh(f"{who} done", client.get("/q/done"))
        w.weigh(f"{who} link again", client.get(f"/q/{token}"))
        weighed += w.pages
    w.weigh("unknown link", app.test_client().get("/q/no-such-link"), statuses=(404,))
    sections = len(instrument.sections)
    assert len(weighed) == len(respondents) * (3 * sections + 4)
    heaviest = max(weighed, key=lambda p: p[1] + p[2])
    print(f"{instrument_id}: heaviest page {heaviest[0]}: {heaviest[1]} B HTML + {heaviest[2]} B CSS")
