"""Acceptance: a parent of a 3-year-old answers the toddler form on a 360x740 phone (Debian chromium),
and every patient page - start, each page, review, each result (nothing, amber, red), a closed link
and an unknown link - shows the study hotline as a tappable tel: link, written the local way.

Screenshots go to test-artifacts/screenshots/<test>/.
"""

from datetime import UTC, datetime

from browser import browser_fixture  # noqa: F401 (a fixture)
from test_questionnaire_browser import (  # noqa: F401 (server is a fixture)
    BUTTONS,
    NOW,
    enrol_family,
    fill_page,
    new_phone,
    section_title,
    server,
    stored_response,
    texted_link,
    tick,
)

PARENT = "+8613800138031"
TEL = "tel:+862223909999"
DISPLAY = "022-2390 9999"

WELL = [
    {"fever_earlier": False},
    {"breathing": 0, "drooling": 0, "bleeding": 0},
    {"activity": 0, "crying": 0, "pale": False},
    {"drinking": 0, "eating": 0, "wet_nappies": 0},
    {"vomiting": 0, "diarrhoea": 0, "rash": False, "spots_bruises": False},
    {"has_line": False, "infection_contact": 0, "tablets": 1},
]
# Week 1 opens on day 5 (2026-03-13) at 18:00 in Tianjin; one week apart after that.
OPENS = [datetime(2026, 3, 13, 10, 30, tzinfo=UTC), datetime(2026, 3, 20, 10, 30, tzinfo=UTC),
         datetime(2026, 3, 27, 10, 30, tzinfo=UTC)]


def assert_hotline(phone, name):
    """The page carries the hotline as a tel: link a thumb can hit, then is screenshotted and checked."""
    links = phone.page.locator(f'a[href="{TEL}"]')
    assert links.count() >= 1, f"no hotline link on {name} ({phone.page.url})"
    assert DISPLAY in links.first.inner_text()
    box = links.first.bounding_box()
    assert box is not None and box["height"] >= 44, box  # a tap target, not a line of small print
    phone.look(name)


def answer_toddler_form(phone, base, instrument, pages, tag):
    words = BUTTONS["zh-CN"]
    assert phone.heading() == instrument.title["zh-CN"]
    assert_hotline(phone, f"{tag}-start")
    phone.click("button", words["start"])
    for index, section in enumerate(instrument.sections):
        if "/q/advice" in phone.page.url:  # a red answer: the emergency advice comes first
            assert_hotline(phone, f"{tag}-advice")
            phone.page.goto(f"{base}/q/answer")
        assert phone.heading() == section_title(section, "proxy", "zh-CN"), phone.page.url
        assert_hotline(phone, f"{tag}-page-{index + 1}")
        fill_page(phone, instrument, pages[index], "zh-CN", "proxy")
        last = index + 1 == len(instrument.sections)
        phone.click("button", words["continue"] if last else words["next"])
    if "/q/advice" in phone.page.url:
        assert_hotline(phone, f"{tag}-advice")
        phone.page.goto(f"{base}/q/review")
    assert_hotline(phone, f"{tag}-review")
    phone.click("button", words["send"])
    assert phone.page.url.endswith("/q/done")


def test_a_parent_of_a_three_year_old_always_has_the_hotline_at_hand(server, browser, request, fake_twilio):  # noqa: F811
    app, base, clock = server
    enrol_family(app, "P-TOD", lang="zh-CN", tz="Asia/Shanghai", phone="", age="3",
                 caregivers=[{"phone": PARENT, "name": "妈妈", "lang": "zh-CN"}])
    clock.now = NOW
    tick(app, NOW)  # baseline and quality-of-life invitations go out
    closed_link = texted_link(app, fake_twilio, PARENT, "quality-of-life")
    instrument = app.extensions["pro_instruments"]["toddler-check"]
    phone = new_phone(browser, request, base, locale="zh-CN")

    results = {}
    amber = [dict(page) for page in WELL]
    amber[4]["rash"] = True  # a new rash: a nurse calls
    red = [dict(page) for page in WELL]
    red[1]["breathing"] = 2  # noisy, hard breathing now: come in now
    for week, (tag, pages) in enumerate([("nothing", WELL), ("amber", amber), ("red", red)]):
        clock.now = OPENS[week]
        tick(app, OPENS[week])
        phone.page.goto(texted_link(app, fake_twilio, PARENT, "toddler-check"))
        answer_toddler_form(phone, base, instrument, pages, tag)
        assert_hotline(phone, f"{tag}-done")
        results[tag] = phone.page.locator("main").inner_text()

    assert "研究护士会在一个工作日内" not in results["nothing"] and "120" not in results["nothing"]
    assert "研究护士会在一个工作日内" in results["amber"] and "拨打120" not in results["amber"]
    assert "拨打120" in results["red"] and "研究卡" in results["red"]
    response = stored_response(app, PARENT, "toddler-check")
    assert response is not None and response.proxy is True

    # The quality-of-life window closed on day 1 unanswered; an unknown link explains itself too.
    phone.page.goto(closed_link)
    assert phone.heading() == "这份问卷已关闭"
    assert_hotline(phone, "closed-link")
    phone.page.goto(f"{base}/q/this-link-does-not-exist")
    assert phone.heading() == "找不到此链接"
    assert_hotline(phone, "unknown-link")
    phone.assert_only_own_server()
