"""Visit reminders say which day, what kind of visit and where, so no two read the same."""

from datetime import date

import pytest
from sqlalchemy import select

from pro_app.db import db
from pro_app.protocol.model import load_protocol
from pro_app.reminders.texts import when_words
from pro_app.sms.models import Message
from pro_app.visits.models import Visit, VisitKind

FAMILY = [{"phone": "+8613800138012", "name": "Grandmother", "lang": "zh-CN", "tz": "Asia/Shanghai"},
          {"phone": "+447911123456", "name": "Aunt", "lang": "en", "tz": "Europe/London"}]


@pytest.mark.parametrize(("language", "days", "words"), [
    ("zh-CN", 0, "今天"), ("zh-CN", 1, "明天"), ("zh-CN", 2, "后天"), ("zh-CN", 5, "5天后"),
    ("en", 0, "today"), ("en", 1, "tomorrow"), ("en", 2, "in 2 days"), ("en", 5, "in 5 days"),
])
def test_each_step_names_its_day(language, days, words):
    assert when_words(language, days) == words


def test_a_site_names_its_own_places(tmp_path):
    text = open(load_protocol().source, encoding="utf-8").read()
    own = tmp_path / "site.yaml"
    own.write_text(text.replace("血液科治疗室", "住院部三楼处置室"), encoding="utf-8")
    assert load_protocol(own).place("marrow", "zh-CN") == "住院部三楼处置室"
    assert load_protocol(own).place("infusion", "en") == "Haematology day ward"


def test_a_place_longer_than_a_template_variable_is_refused(tmp_path):
    text = open(load_protocol().source, encoding="utf-8").read()
    own = tmp_path / "site.yaml"
    own.write_text(text.replace("Haematology clinic", "H" * 36), encoding="utf-8")
    with pytest.raises(Exception, match="site.places.other.en"):
        load_protocol(own)


def test_no_two_reminders_to_one_number_read_the_same(app, make_participant):
    make_participant("P-W", start=date(2026, 3, 2), age="16", caregivers=FAMILY)
    with app.app_context():
        rows = db.session.scalars(select(Message).where(Message.template == "visit_reminder")).all()
        visits = {v.id: v for v in db.session.scalars(select(Visit))}
        assert len(rows) > 100
        by_phone = {}
        for m in rows:
            by_phone.setdefault(m.to_phone, []).append(m)
        assert len(by_phone) == 3
        for phone, texts in by_phone.items():
            bodies = [m.body for m in texts]
            assert len(bodies) == len(set(bodies)), phone
            for m in texts:
                kind, zh = visits[m.visit_id].kind, m.language == "zh-CN"
                if kind == VisitKind.MARROW:
                    assert ("骨髓穿刺" if zh else "Marrow aspirate") in m.body
                    assert ("血液科治疗室" if zh else "Haematology procedure room") in m.body
                elif kind == VisitKind.INFUSION:
                    assert ("输注日" if zh else "nfusion day") in m.body
                    assert ("血液科日间病房" if zh else "Haematology day ward") in m.body
                step = m.dedupe_key.rsplit(":", 1)[1]
                words = {"2d": ("后天", "in 2 days"), "1d": ("明天", "tomorrow"), "morning": ("今天", "today")}[step]
                assert words[0 if zh else 1] in m.body
