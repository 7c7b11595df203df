"""A family in Tianjin opens the links from an Alibaba Cloud text in WeChat's in-app browser.

Chromium with WeChat's user agent on a 360x740 screen, a real server, texts through the real
Alibaba SDK to the loopback fake: the questionnaire link and the calendar link are the ones the
approved templates carried, and the pages need nothing WeChat's browser lacks (no JavaScript).
"""

from datetime import timedelta

import pytest
from browser import browser_fixture, served_app  # noqa: F401 (browser is a fixture)
from fake_aliyun import ACCESS_KEY_ID, ACCESS_KEY_SECRET, SIGN_NAME, FakeAliyun
from test_questionnaire_browser import (
    NOW,
    QOL,
    QOL_SCORES,
    WECHAT,
    Clock,
    answer_questionnaire,
    enrol_family,
    new_phone,
    stored_response,
    tick,
)

from pro_app.questionnaires import views
from pro_app.sms.templates import TemplateSet

TEEN, PARENT = "+8613800138031", "+8613800138032"


@pytest.fixture
def aliyun_server(tmp_path, monkeypatch):
    """Serve a fresh app whose +86 texts go through Alibaba; yield (app, base URL, clock, fake)."""
    clock = Clock()
    monkeypatch.setattr(views, "utcnow", lambda: clock.now)
    with FakeAliyun(TemplateSet()) as fake:
        config = {"SMS_BACKEND": "aliyun", "ALIYUN_ACCESS_KEY_ID": ACCESS_KEY_ID,
                  "ALIYUN_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET, "ALIYUN_SIGN_NAME": SIGN_NAME,
                  "ALIYUN_ENDPOINT": fake.endpoint}
        with served_app(tmp_path, config) as (app, base):
            yield app, base, clock, fake


def approved_link(fake, number, kind, variable):
    """The link an approved template carried to a number."""
    code = TemplateSet().get(kind, "zh-CN").code
    sent = [m for m in fake.messages_to(number[3:]) if m["template_code"] == code]
    assert sent, f"no {kind} text to {number}: {fake.messages_to(number[3:])}"
    return sent[-1]["params"][variable]


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "no-js"])
def test_a_teen_answers_in_wechat_from_an_alibaba_text(aliyun_server, browser, request, javascript):
    app, base, clock, fake = aliyun_server
    enrol_family(app, "P-WX", lang="zh-CN", tz="Asia/Shanghai", phone=TEEN, age="15",
                 caregivers=[{"phone": PARENT, "name": "妈妈", "lang": "zh-CN"}])
    clock.now = NOW
    for minute in range(4):  # Alibaba's per-number limit spaces the welcome and the invitations a minute apart
        tick(app, NOW + timedelta(minutes=minute))
    links = {m["params"]["link"] for m in fake.messages_to(TEEN[3:]) if "link" in m["params"]}
    assert links and all(link.startswith(f"{base}/q/") for link in links)
    phone = new_phone(browser, request, base, locale="zh-CN", user_agent=WECHAT, javascript=javascript)
    instrument = app.extensions["pro_instruments"]["quality-of-life"]
    # Baseline and quality of life open together: one approved text, whose one link opens their list.
    [together] = [m for m in fake.messages_to(TEEN[3:]) if m["template_code"] == TemplateSet().get(
        "questionnaire_invites", "zh-CN").code]
    assert together["params"]["titles"] == "开始前的基本情况、生活质量"
    link = together["params"]["link"]
    assert _opens(phone, link) == "您的问卷"
    assert phone.page.locator("html").get_attribute("lang") == "zh-CN"
    answer_questionnaire(phone, instrument, QOL, "zh-CN", "self", listed=True)
    assert phone.heading() == "谢谢"
    phone.assert_only_own_server()
    if javascript:
        # Nothing wider than the phone: no sideways scrolling in WeChat's narrow view.
        assert phone.page.evaluate("document.documentElement.scrollWidth") <= 360
        assert "MicroMessenger/8.0" in phone.page.evaluate("navigator.userAgent")
    response = stored_response(app, TEEN, "quality-of-life")
    assert response is not None and response.scores == QOL_SCORES
    phone.page.goto(link)
    assert phone.heading() == "您的问卷" and phone.page.get_by_text("已填写，谢谢！").is_visible()

    # The calendar link from the welcome text answers with the family's visits.
    calendar = approved_link(fake, TEEN, "welcome", "calendar_url")
    answer = phone.page.request.get(calendar)
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/calendar")
    assert "BEGIN:VEVENT" in answer.text()


def _opens(phone, link):
    phone.page.goto(link)
    return phone.heading()
