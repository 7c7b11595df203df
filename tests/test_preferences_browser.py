"""The preferences page in Debian's chromium, from the link in the welcome text the gateway received:
a zh-CN patient on a 360x740 phone and an English-speaking caregiver at 1280x800 each change the
evening reminder time and the language; the confirmation comes in the new language, the hotline is
always a tap away, and an unknown link explains itself. Screenshots: test-artifacts/screenshots/<test>/.
"""

import re

import pytest
from browser import browser_fixture, screenshot_folder, sign_in  # noqa: F401 (a fixture)
from playwright.sync_api import expect
from sqlalchemy import select
from test_questionnaire_browser import NOW, Phone, enrol_family, new_phone, server, tick  # noqa: F401

from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.participants.models import Contact
from pro_app.reminders import preferences_views
from pro_app.sms.models import Message, MessageState
from pro_app.staff.cli import create_staff

PATIENT, CAREGIVER = "+8613800138041", "+447911123041"
TEL = "tel:+862223909999"
PREFERENCES = re.compile(r"(http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]{32})")


@pytest.fixture
def family(server, fake_twilio, monkeypatch):  # noqa: F811
    """A zh-CN patient and an English caregiver, welcomed: (app, base, {phone: their preferences link})."""
    app, base, clock = server
    monkeypatch.setattr(preferences_views, "utcnow", lambda: clock.now)
    enrol_family(app, "P-PREF", lang="zh-CN", tz="Asia/Shanghai", phone=PATIENT,
                 caregivers=[{"phone": CAREGIVER, "name": "Mum", "lang": "en"}])
    clock.now = NOW
    tick(app, NOW)
    links = {}
    for number in (PATIENT, CAREGIVER):
        found = [PREFERENCES.search(m["body"]) for m in fake_twilio.messages_to(number)]
        links[number] = next(m.group(1) for m in found if m)
    return app, base, links


def settings(app, number):
    with app.app_context():
        c = db.session.scalar(select(Contact).where(Contact.phone == number))
        pending = db.session.scalars(select(Message).where(
            Message.contact_id == c.id, Message.template == "visit_reminder",
            Message.state == MessageState.PENDING)).all()
        return c.language, c.evening_time and c.evening_time.strftime("%H:%M"), {m.language for m in pending}


def assert_hotline(phone):
    link = phone.page.locator(f'a[href="{TEL}"]').first
    expect(link).to_be_visible()
    box = link.bounding_box()
    assert box is not None and box["height"] >= 44, box


def desktop(browser, request, base):  # noqa: F811
    phone = new_phone(browser, request, base)
    phone.page.set_viewport_size({"width": 1280, "height": 800})
    return phone


def test_a_patient_on_a_phone_switches_to_english_and_19(family, browser, request):  # noqa: F811
    app, base, links = family
    phone = new_phone(browser, request, base, locale="zh-CN")
    phone.page.goto(links[PATIENT])
    assert phone.heading() == "短信设置"
    assert phone.page.locator("html").get_attribute("lang") == "zh-CN"
    expect(phone.page.get_by_label("18:00")).to_be_checked()
    assert_hotline(phone)
    phone.look("phone-zh-form")
    phone.page.get_by_text("19:00", exact=True).click()
    phone.page.get_by_text("English", exact=True).last.click()
    phone.click("button", "保存")
    expect(phone.page.get_by_role("status")).to_have_text(
        "Saved. Reminders on the evening before a visit will come at 19:00.")
    assert phone.page.locator("html").get_attribute("lang") == "en"
    assert phone.heading() == "Your text settings"
    expect(phone.page.get_by_label("19:00")).to_be_checked()
    assert_hotline(phone)
    phone.look("phone-en-saved")
    assert settings(app, PATIENT) == ("en", "19:00", {"en"})
    phone.assert_only_own_server()


def test_a_caregiver_at_a_desk_switches_to_chinese_and_20(family, browser, request):  # noqa: F811
    app, base, links = family
    phone = desktop(browser, request, base)
    phone.page.goto(links[CAREGIVER])
    assert phone.heading() == "Your text settings"
    assert_hotline(phone)
    phone.look("desk-en-form")
    phone.click("button", "Save")
    expect(phone.page.get_by_role("status")).to_have_text("Nothing was changed.")
    phone.page.get_by_text("20:00", exact=True).click()
    phone.page.locator("label.option", has_text="中文").click()
    phone.click("button", "Save")
    expect(phone.page.get_by_role("status")).to_have_text("已保存。访视前一天晚上的提醒将在 20:00 发送。")
    assert phone.heading() == "短信设置"
    assert_hotline(phone)
    phone.look("desk-zh-saved")
    assert settings(app, CAREGIVER) == ("zh-CN", "20:00", {"zh-CN"})


@pytest.mark.parametrize(("size", "locale", "heading"), [
    ("phone", "zh-CN", "找不到此链接"), ("desk", "en-GB", "Link not found")])
def test_an_unknown_link_explains_itself_with_the_hotline(family, browser, request, size, locale, heading):  # noqa: F811
    app, base, links = family
    phone = new_phone(browser, request, base, locale=locale)
    if size == "desk":
        phone.page.set_viewport_size({"width": 1280, "height": 800})
    response = phone.page.goto(f"{base}/p/{'x' * 32}")
    assert response.status == 404
    assert phone.heading() == heading
    assert "TIME 19" in phone.page.locator("main").inner_text()
    assert_hotline(phone)
    phone.look(f"{size}-unknown")


@pytest.mark.parametrize(("viewport", "lang"), [({"width": 360, "height": 740}, "zh-CN"),
                                                ({"width": 1280, "height": 800}, "en")])
def test_a_nurse_sets_both_on_the_participant_page(family, browser, request, viewport, lang):  # noqa: F811
    app, base, _links = family
    with app.app_context():
        create_staff(db.session, "nurse@example.org", "nurse", "correct horse battery", language=lang,
                     actor=Actor(label="test"), now=NOW)
        db.session.commit()
    shots = screenshot_folder(request.node.name)
    context = browser.new_context(viewport=viewport)
    request.addfinalizer(context.close)
    page = sign_in(context, base, "nurse@example.org", "correct horse battery")
    page.goto(f"{base}/staff/participants/P-PREF")
    words = {"zh-CN": ("前一天晚上的提醒时间和短信语言", "前一天晚上的提醒时间", "短信语言", "保存",
                       "提醒时间和语言已保存，尚未发送的短信会随之更新。"),
             "en": ("Evening reminder time and language", "Evening reminder time", "Language of texts", "Save",
                    "Reminder time and language saved; pending texts follow.")}[lang]
    page.get_by_text(words[0], exact=True).click()
    form = page.locator("form.preferences-form").filter(has_text=CAREGIVER)
    form.get_by_label(words[1]).select_option("19:00")
    form.get_by_label(words[2]).select_option("zh-CN")
    page.locator("details.preferences").screenshot(path=str(shots / "01-form.png"))
    form.get_by_role("button", name=words[3]).click()
    expect(page.get_by_role("status").filter(has_text=words[4])).to_be_visible()
    page.screenshot(path=str(shots / "02-saved.png"))
    assert settings(app, CAREGIVER) == ("zh-CN", "19:00", {"zh-CN"})
