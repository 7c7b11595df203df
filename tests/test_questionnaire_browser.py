"""The questionnaire in a real browser: Debian's chromium, a 360x740 phone screen, a real server.

The app runs on a SQLite file behind werkzeug's threaded server; texts go through the real
Twilio SDK to the loopback fake, and each test opens the link from the text the gateway got.
Every page is screenshotted to test-artifacts/screenshots/<test>/ and, with JavaScript on,
checked with axe-core: no serious or critical violation is allowed.
"""

import re
from datetime import UTC, date, datetime, timedelta
from statistics import mean
from urllib.parse import urlsplit

import pytest
from browser import assert_accessible, browser_fixture, screenshot_folder, served_app  # noqa: F401
from conftest import enrol_participant
from sqlalchemy import select

from pro_app.audit.operations import Actor
from pro_app.db import db
from pro_app.protocol import current_protocol
from pro_app.questionnaires import current_instruments, views
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment, AssignmentState, Response
from pro_app.scheduler import run_tick

PHONE = {"viewport": {"width": 360, "height": 740}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}
WECHAT = ("Mozilla/5.0 (Linux; Android 10; V2036A Build/QP1A.190711.020; wv) AppleWebKit/537.36 (KHTML, like "
          "Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5023 MMWEBSDK/20230405 "
          "MMWEBID/2528 MicroMessenger/8.0.35.2360(0x2800235D) WeChat/arm64 Weixin NetType/4G Language/zh_CN "
          "ABI/arm64")

START = date(2026, 3, 9)  # day 1, a Monday: baseline and quality of life open 2026-03-02 09:00 local
NOW = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai on day -7
TEEN, PARENT, ADULT = "+8613800138021", "+8613800138022", "+447911123021"
LINK = re.compile(r"(http://127\.0\.0\.1:\d+/q/[A-Za-z0-9_-]+)")

# Quality of life as the teen answers it; expected scores worked out by hand from the README:
# linear = (mean - low) / (high - low) * 100.
QOL = [{"walking": 4, "active_play": 3, "self_care": 3, "up_and_about": 2},
       {"worried": 3, "low_mood": 4, "irritable": 2, "good_mood": 3},
       {"school_work": 4, "concentrate": 3, "usual_days": 4, "learning": 3},
       {"friends": 4, "enjoyment": 3, "support": 2, "get_along": 3},
       {"overall_life": 8}]
QOL_SCORES = {"physical": round((mean([4, 3, 3, 2]) - 1) / 3 * 100, 1),
              "emotional": round(mean([3, 4, 2, 3]) / 4 * 100, 1),
              "school": round((mean([4, 3, 4, 3]) - 1) / 3 * 100, 1),
              "social": round((mean([4, 3, 2, 3]) - 1) / 3 * 100, 1),
              "global": 80.0}
NO = False
POST_INFUSION = [
    {"temperature": ("99.7", "F"), "temperature_route": 2, "chills": NO},
    {"breathing": 0, "throat_swelling": 0, "chest_heart": 0, "fainting": 0},
    {"bleeding": 0, "confusion": 0, "vision": 0},
    {"rash": True, "rash_severity": 1, "allergy_signs": 0, "cough": NO},
    {"headache": NO, "nausea": NO, "anything_else": "Slept most of the afternoon."},
]
BUTTONS = {"en": {"start": "Start", "next": "Next", "continue": "Continue", "back": "Back",
                  "send": "Send my answers", True: "Yes", False: "No", "unit": "Unit"},
           "zh-CN": {"start": "开始", "next": "下一页", "continue": "继续", "back": "上一页",
                     "send": "提交我的答案", True: "是", False: "否", "unit": "单位"}}


# --- a real server ----------------------------------------------------------------------------------

class Clock:
    now = NOW


@pytest.fixture
def server(tmp_path, monkeypatch, twilio_config):
    """Serve a fresh app on a SQLite file at 127.0.0.1:<free port>; yield (app, base URL, clock)."""
    clock = Clock()
    monkeypatch.setattr(views, "utcnow", lambda: clock.now)
    with served_app(tmp_path, twilio_config) as (app, base):
        yield app, base, clock


def enrol_family(app, study_id, *, lang, tz, phone, age="", caregivers=()):
    """Enrol a participant whose day 1 is START, enrolled the day before NOW."""
    enrol_participant(app, study_id, start=START, now=NOW - timedelta(days=1), lang=lang, tz=tz, phone=phone,
                      age=age, caregivers=caregivers)


def give_infusion(app, study_id, dose, now):
    """Record an infusion as given (after-infusion checks are invited only then)."""
    from pro_app.participants.models import Participant
    from pro_app.visits.models import Visit, VisitKind, VisitStatus
    from pro_app.visits.operations import set_visit_status

    with app.test_request_context():
        visit = db.session.scalar(select(Visit).join(Participant).where(
            Participant.study_id == study_id, Visit.kind == VisitKind.INFUSION, Visit.dose_number == dose))
        set_visit_status(db.session, visit, VisitStatus.DONE, reason="given", actor=Actor(label="test"), now=now,
                         protocol=current_protocol(), instruments=current_instruments())
        db.session.commit()


def tick(app, now):
    with app.app_context():
        return run_tick(now)


def texted_link(app, fake_twilio, number, instrument):
    """The link in the latest invitation to `number` naming `instrument`, as the gateway received it.

    Invitations due together come as one text whose one link opens their list.
    """
    from pro_app.sms.models import Message

    found = None
    with app.app_context():
        for sent in fake_twilio.messages_to(number):
            match = LINK.search(sent["body"])
            message = db.session.scalar(select(Message).where(Message.provider_sid == sent["sid"]))
            if not match or message.assignment is None:
                continue
            named = ([db.session.get(Assignment, a).instrument_id for a in message.params["assignments"]]
                     if message.template == "questionnaire_invites" else [message.assignment.instrument_id])
            if instrument in named:
                found = match.group(1)
    assert found, f"no {instrument} link texted to {number}: {fake_twilio.messages_to(number)}"
    return found


def stored_response(app, number, instrument):
    with app.app_context():
        return db.session.scalar(select(Response).where(Response.instrument_id == instrument)
                                 .where(Response.assignment.has(Assignment.contact.has(phone=number))))


# --- a person with a phone ------------------------------------------------------------------------

class Phone:
    """One browser tab on a phone: records every request, screenshots and checks every page."""

    def __init__(self, context, shots, base, *, axe):
        self.page = context.new_page()
        self.base = base
        self.shots = shots
        self.axe = axe
        self.requests = []
        self.seen = 0
        self.page.on("request", lambda request: self.requests.append(request.url))

    def look(self, name):
        """Screenshot the page and, with JavaScript on, fail on serious accessibility problems."""
        self.seen += 1
        self.page.screenshot(path=str(self.shots / f"{self.seen:02d}-{name}.png"), full_page=True)
        if self.axe:
            assert_accessible(self.page, name)

    def heading(self):
        return self.page.locator("h1").inner_text().strip()

    def click(self, role, name):
        self.page.get_by_role(role, name=name, exact=True).click()

    def assert_only_own_server(self):
        host = urlsplit(self.base).netloc
        elsewhere = [u for u in self.requests if urlsplit(u).scheme not in ("data", "about")
                     and urlsplit(u).netloc != host]
        assert self.requests and not elsewhere, elsewhere


def choose(phone, item, value, lang):
    """Tap the answer's label, as a person does (not the radio button itself)."""
    field = phone.page.locator(f"#item-{item.id}")
    if item.type == "yesno":
        text = BUTTONS[lang][value]
    elif item.type == "rating":
        text = str(value)
    else:
        text = next(label[lang] for v, label in item.choices if v == value)
    field.locator("label.option").get_by_text(text, exact=True).click()
    assert field.locator(f'input[value="{"yes" if value is True else "no" if value is False else value}"]') \
        .is_checked()


def fill_page(phone, instrument, answers, lang, respondent):
    for item_id, value in answers.items():
        item = instrument.item(item_id)
        if item.type == "number":
            number, unit = value
            text = phone.page.get_by_role("textbox", name=instrument_text(item, respondent, lang), exact=True)
            text.fill(number)
            phone.page.get_by_label(BUTTONS[lang]["unit"], exact=True).select_option(unit)
        elif item.type == "text":
            phone.page.get_by_role("textbox", name=instrument_text(item, respondent, lang), exact=True) \
                .fill(value)
        else:
            choose(phone, item, value, lang)


def instrument_text(item, respondent, lang):
    text = item.text
    if "self" in text:
        text = text[respondent]
    return text[lang]


def section_title(section, respondent, lang):
    title = section.title
    return (title[respondent] if "self" in title else title)[lang]


def start_from_list(phone, instrument, lang):
    """On the list of questionnaires a text named, tap the Start of this one."""
    item = phone.page.locator(".q-item").filter(has=phone.page.get_by_role("heading", name=instrument.title[lang],
                                                                          exact=True))
    item.get_by_role("button").click()


def answer_questionnaire(phone, instrument, pages, lang, respondent, *, back_from=2, error_on=0, listed=False):
    """From the start page (or the list's Start) to the thank-you page: every section, one error, one Back."""
    words = BUTTONS[lang]
    title = instrument.title[lang]
    if listed:
        start_from_list(phone, instrument, lang)
    else:
        assert phone.heading() == title
        phone.look("start")
        phone.click("button", words["start"])
    total = len(instrument.sections)
    index = 0
    went_back = False
    while index < total:
        section = instrument.sections[index]
        assert phone.heading() == section_title(section, respondent, lang), phone.page.url
        assert "?" not in phone.page.url or re.search(r"/q/answer\?s=\d+$", phone.page.url), phone.page.url
        if index == error_on and phone.page.locator(".error-summary").count() == 0 and not went_back:
            phone.look(f"section-{index + 1}")
            phone.click("button", words["next"] if index + 1 < total else words["continue"])
            assert phone.page.locator(".error-summary").is_visible()
            phone.look(f"section-{index + 1}-error")
        fill_page(phone, instrument, pages[index], lang, respondent)
        if index == back_from and not went_back:
            went_back = True
            phone.look(f"section-{index + 1}")
            phone.click("link", words["back"])
            earlier = instrument.sections[index - 1]
            assert phone.heading() == section_title(earlier, respondent, lang)
            for item_id, value in pages[index - 1].items():
                if instrument.item(item_id).type in ("single", "rating"):
                    assert phone.page.locator(f'input[name="{item_id}"][value="{value}"]').is_checked()
            phone.look(f"section-{index}-again")
            phone.click("button", words["next"])
            continue  # back on this page, which the Back link left unsaved: fill it again
        if index != error_on:
            phone.look(f"section-{index + 1}")
        phone.click("button", words["next"] if index + 1 < total else words["continue"])
        index += 1
    assert phone.page.url.endswith("/q/review")
    phone.look("review")
    phone.click("button", words["send"])
    assert phone.page.url.endswith("/q/done")
    phone.look("done")


def new_phone(browser, request, base, *, javascript=True, locale="en-GB", user_agent=None):
    shots = screenshot_folder(request.node.name)
    options = dict(PHONE, locale=locale, java_script_enabled=javascript)
    if user_agent:
        options["user_agent"] = user_agent
    context = browser.new_context(**options)
    request.addfinalizer(context.close)
    probe = context.new_page()
    probe.set_content('<p id="js">off</p><script>document.getElementById("js").textContent = "on"</script>')
    assert probe.locator("#js").inner_text() == ("on" if javascript else "off")
    probe.close()
    return Phone(context, shots, base, axe=javascript)


# --- the tests ---------------------------------------------------------------------------------------

def test_a_teen_answers_quality_of_life_in_chinese_in_wechat(server, browser, request, fake_twilio):
    app, base, clock = server
    enrol_family(app, "P-ZH", lang="zh-CN", tz="Asia/Shanghai", phone=TEEN, age="15",
                 caregivers=[{"phone": PARENT, "name": "妈妈", "lang": "zh-CN"}])
    clock.now = NOW
    tick(app, NOW)
    link = texted_link(app, fake_twilio, TEEN, "quality-of-life")
    phone = new_phone(browser, request, base, locale="zh-CN", user_agent=WECHAT)
    assert "MicroMessenger/8.0" in phone.page.evaluate("navigator.userAgent")
    assert link == texted_link(app, fake_twilio, TEEN, "baseline")  # one text, one link for both
    phone.page.goto(link)
    assert phone.page.locator("html").get_attribute("lang") == "zh-CN"
    # The list of what the text named: both open, each with its deadline and its Start.
    assert phone.heading() == "您的问卷"
    items = phone.page.locator(".q-item")
    assert items.count() == 2
    assert [items.nth(i).locator("h2").inner_text() for i in range(2)] == ["开始前的基本情况", "生活质量"]
    assert items.nth(1).get_by_text("截止时间：03-09 08:00").is_visible()
    assert phone.page.locator("a.tel").is_visible()  # the hotline, in reach
    phone.look("list")
    instrument = app.extensions["pro_instruments"]["quality-of-life"]
    answer_questionnaire(phone, instrument, QOL, "zh-CN", "self", listed=True)
    assert phone.heading() == "谢谢"
    assert phone.page.get_by_text("短信里还有 1 份问卷没有填写。").is_visible()
    phone.click("link", "返回问卷列表")
    assert phone.heading() == "您的问卷" and "/q/list" in phone.page.url
    assert items.nth(1).get_by_text("已填写，谢谢！").is_visible()
    assert items.nth(1).get_by_role("button").count() == 0
    phone.look("list-after-one")
    phone.assert_only_own_server()

    response = stored_response(app, TEEN, "quality-of-life")
    assert response is not None and response.proxy is False
    assert response.answers == {k: v for page in QOL for k, v in page.items()}
    assert response.scores == QOL_SCORES
    # The link now shows it answered, beside the one still open.
    phone.page.goto(link)
    assert phone.heading() == "您的问卷" and items.nth(1).get_by_text("已填写，谢谢！").is_visible()
    assert items.get_by_role("button").count() == 1
    phone.look("link-again")


def test_an_adult_answers_the_after_infusion_check_in_english(server, browser, request, fake_twilio):
    app, base, clock = server
    enrol_family(app, "P-EN", lang="en", tz="Europe/London", phone=ADULT)
    evening = datetime(2026, 3, 9, 19, 0, tzinfo=UTC)  # day 1, 19:00 in London (GMT)
    give_infusion(app, "P-EN", 1, evening - timedelta(hours=3))
    clock.now = evening
    tick(app, evening)
    link = texted_link(app, fake_twilio, ADULT, "post-infusion")
    phone = new_phone(browser, request, base, locale="en-GB")
    phone.page.goto(link)
    assert phone.page.locator("html").get_attribute("lang") == "en"
    instrument = app.extensions["pro_instruments"]["post-infusion"]
    answer_questionnaire(phone, instrument, POST_INFUSION, "en", "self", back_from=3, error_on=1)
    assert phone.heading() == "Thank you"
    phone.assert_only_own_server()

    response = stored_response(app, ADULT, "post-infusion")
    assert response is not None and response.proxy is False
    assert response.answers["temperature"] == round((99.7 - 32) * 5 / 9, 1) == 37.6
    assert response.answers["rash"] is True and response.answers["rash_severity"] == 1
    assert response.answers["anything_else"] == "Slept most of the afternoon."
    assert "chills_severity" not in response.answers
    assert response.scores == {}  # the after-infusion check has alerts, no scores


def test_a_parent_answers_by_proxy_without_javascript(server, browser, request, fake_twilio):
    app, base, clock = server
    enrol_family(app, "P-ZH", lang="zh-CN", tz="Asia/Shanghai", phone=TEEN, age="15",
                 caregivers=[{"phone": PARENT, "name": "妈妈", "lang": "zh-CN"}])
    evening = datetime(2026, 3, 9, 11, 0, tzinfo=UTC)  # day 1, 19:00 in Shanghai
    give_infusion(app, "P-ZH", 1, evening - timedelta(hours=3))
    clock.now = evening
    tick(app, evening)
    link = texted_link(app, fake_twilio, PARENT, "post-infusion")
    phone = new_phone(browser, request, base, javascript=False, locale="zh-CN", user_agent=WECHAT)
    phone.page.goto(link)
    assert phone.page.get_by_text("请根据您的观察，代参加研究的孩子回答。").is_visible()
    instrument = app.extensions["pro_instruments"]["post-infusion"]
    pages = [dict(page) for page in POST_INFUSION]
    pages[0] = {"temperature": ("37.9", "C"), "temperature_route": 1, "chills": True, "chills_severity": 2}
    pages[4] = {"headache": NO, "nausea": NO}
    answer_questionnaire(phone, instrument, pages, "zh-CN", "proxy")
    assert phone.heading() == "谢谢"
    phone.assert_only_own_server()

    response = stored_response(app, PARENT, "post-infusion")
    assert response is not None and response.proxy is True and response.respondent == "proxy"
    assert response.answers["temperature"] == 37.9 and response.answers["chills_severity"] == 2


def test_closed_replaced_unknown_and_early_links_explain_themselves(server, browser, request, fake_twilio):
    app, base, clock = server
    enrol_family(app, "P-EN", lang="en", tz="Europe/London", phone=ADULT)
    clock.now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    tick(app, clock.now)
    qol = texted_link(app, fake_twilio, ADULT, "quality-of-life")
    assert texted_link(app, fake_twilio, ADULT, "baseline") == qol  # one text, one link to both
    phone = new_phone(browser, request, base, locale="en-GB")

    phone.page.goto(f"{base}/q/not-a-real-link")
    assert phone.heading() == "Link not found"
    phone.look("unknown")

    with app.app_context():
        a = db.session.scalar(select(Assignment).where(Assignment.instrument_id == "baseline"))
        baseline = f"{base}/q/{ops.new_link(db.session, a.id, clock.now)}"
        ops.resend(db.session, a, current_protocol(), current_instruments(), now=clock.now)
        week1 = db.session.scalar(select(Assignment).where(Assignment.occasion == "weekly-w1"))
        early = ops.new_link(db.session, week1.id, clock.now)
        db.session.commit()
    phone.page.goto(baseline)
    assert phone.heading() == "This link has been replaced"
    phone.look("replaced")

    phone.page.goto(f"{base}/q/{early}")
    assert phone.heading() == "Not open yet"
    phone.look("not-open-yet")

    # On the list, the resent one is closed with a word why; the other can still be started.
    phone.page.goto(qol)
    assert phone.heading() == "Your questionnaires"
    assert phone.page.get_by_text("The study team sent you a newer link for this one.", exact=False).is_visible()
    assert phone.page.locator(".q-item button").count() == 1
    phone.look("list-one-replaced")
    start_from_list(phone, app.extensions["pro_instruments"]["quality-of-life"], "en")
    assert "Page 1 of 5" in phone.page.locator(".progress").inner_text()
    closes = datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # day 1, 08:00 in London
    assert "questionnaires expired" in tick(app, closes)
    clock.now = closes
    with app.app_context():
        assert db.session.scalar(select(Assignment.state).where(Assignment.instrument_id == "quality-of-life")) \
            == AssignmentState.EXPIRED
    fill_page(phone, app.extensions["pro_instruments"]["quality-of-life"], QOL[0], "en", "self")
    phone.click("button", "Next")
    assert phone.heading() == "This questionnaire has closed"
    phone.look("closed-while-answering")
    phone.page.goto(qol)
    assert phone.heading() == "This questionnaire has closed"
    phone.look("closed")
    phone.assert_only_own_server()
    assert stored_response(app, ADULT, "quality-of-life") is None


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_the_list_a_text_opens_reads_on_a_phone_and_a_desktop(server, browser, request, fake_twilio, lang):
    app, base, clock = server
    enrol_family(app, "P-L", lang=lang, tz="Asia/Shanghai", phone=TEEN)
    clock.now = NOW
    tick(app, NOW)
    [text] = [m["body"] for m in fake_twilio.messages_to(TEEN) if LINK.search(m["body"])]
    assert ("有 2 份问卷请您填写" if lang == "zh-CN" else "2 short questionnaires are ready") in text
    link = LINK.search(text).group(1)
    titles = {"zh-CN": ["开始前的基本情况", "生活质量"], "en": ["Before we start", "Quality of life"]}[lang]
    phone = new_phone(browser, request, base, locale=lang)
    for size in ({"width": 360, "height": 740}, {"width": 1280, "height": 800}):
        phone.page.set_viewport_size(size)
        phone.page.goto(link)
        assert phone.page.locator("html").get_attribute("lang") == lang
        assert phone.heading() == ("您的问卷" if lang == "zh-CN" else "Your questionnaires")
        assert phone.page.locator(".q-item h2").all_inner_texts() == titles
        assert phone.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        for button in phone.page.locator(".q-item button").all():
            box = button.bounding_box()
            assert box["height"] >= 44 and box["width"] >= min(280, size["width"] - 64)
        hotline = phone.page.locator("a.tel")
        assert hotline.is_visible() and hotline.bounding_box()["height"] >= 44
        phone.look(f"list-{size['width']}")
    phone.assert_only_own_server()
