"""The one time rule for staff pages: the study zone with its name, the participant's own beside it."""

from datetime import UTC, datetime

from babel import Locale
from hypothesis import given
from hypothesis import strategies as st

from pro_app.timefmt import when_text

EN, ZH = Locale.parse("en"), Locale.parse("zh_CN")
TODAY = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_study_zone_is_named_in_the_readers_language():
    at = datetime(2026, 11, 25, 10, 4, tzinfo=UTC)
    assert when_text(at, "Asia/Shanghai", ZH, today=TODAY) == "11月25日 18:04 北京时间"
    assert when_text(at, "Asia/Shanghai", EN, today=TODAY) == "Nov 25 18:04 China Standard Time"


def test_another_year_shows_the_year():
    at = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
    assert when_text(at, "Asia/Shanghai", EN, today=TODAY) == "Mar 1, 2025 09:00 China Standard Time"


def test_the_participants_zone_goes_beside_where_it_differs_with_summer_time():
    summer = datetime(2026, 7, 1, 10, 4, tzinfo=UTC)
    assert (when_text(summer, "Asia/Shanghai", EN, "Europe/London", today=TODAY)
            == "Jul 1 18:04 China Standard Time (11:04 British Summer Time)")
    # Past midnight in Beijing, still the evening before in London: the other date is said.
    late = datetime(2026, 11, 24, 17, 30, tzinfo=UTC)
    assert (when_text(late, "Asia/Shanghai", EN, "Europe/London", today=TODAY)
            == "Nov 25 01:30 China Standard Time (Nov 24 17:30 Greenwich Mean Time)")
    assert when_text(summer, "Asia/Shanghai", ZH, "Asia/Shanghai", today=TODAY) == "7月1日 18:04 北京时间"


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)),
       st.sampled_from(["Asia/Shanghai", "Europe/London", "America/New_York", "Australia/Sydney"]))
def test_never_bare_utc(instant, own):
    for locale in (EN, ZH):
        text = when_text(instant, "Asia/Shanghai", locale, own, today=TODAY)
        assert "UTC" not in text
        assert text.split(" (")[0].endswith("北京时间" if locale is ZH else "China Standard Time")
