"""Understanding reply texts: keywords in any case, width or punctuation; everything else is 'other'."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pro_app.sms.keywords import (
    CONFIRM,
    HELP,
    OPT_IN,
    OPT_OUT,
    RESCHEDULE,
    normalise,
    parse_preference,
    parse_reply,
)

ACTIONS = {"opt_out", "opt_in", "help", "confirm", "reschedule", "language", "evening_time", "other"}
KEYWORDS = OPT_OUT | OPT_IN | HELP | CONFIRM | RESCHEDULE


@pytest.mark.parametrize("body", [
    "STOP", "stop", "Stop", "sToP", "ＳＴＯＰ", "ｓｔｏｐ", "stop!", "STOP.", "  stop  ", "\tSTOP\n", "Stop!!!",
    "UNSUBSCRIBE", "unsubscribe", "Cancel", "cancel.", "END", "end", "Quit", "quit?",
    "退订", "退订。", " 退订 ", "退订！", "TD", "td", "Td", "ＴＤ", "T", "t", "Ｔ。",
])
def test_opt_out_words(body):
    assert parse_reply(body) == "opt_out"


@pytest.mark.parametrize("body", ["START", "start", "Start!", " ＳＴＡＲＴ ", "UNSTOP", "unstop", "Unstop."])
def test_opt_in_words(body):
    assert parse_reply(body) == "opt_in"


@pytest.mark.parametrize("body", ["HELP", "help", "Help?", "ＨＥＬＰ", "帮助", "帮助？", " 帮助 "])
def test_help_words(body):
    assert parse_reply(body) == "help"


@pytest.mark.parametrize("body", ["C", "c", "Ｃ", "c.", "1", "１", " 1 ", "1。", "确认", "确认！"])
def test_confirm_words(body):
    assert parse_reply(body) == "confirm"


@pytest.mark.parametrize("body", ["R", "r", "Ｒ", "r!", "2", "２", " 2 ", "改期", "改期。"])
def test_reschedule_words(body):
    assert parse_reply(body) == "reschedule"


@pytest.mark.parametrize("body", [
    "Stop sending me the wrong date please", "12", "21", "3", "0", "", "   ", "!!!", "。",
    "yes", "ok", "好的", "CC", "stopp", "STOP ME", "请退订我的孩子", "help me please", "1 2",
    "Can we come on Tuesday instead?", "我们明天来不了",
])
def test_anything_else_is_other(body):
    assert parse_reply(body) == "other"


def test_none_is_other():
    assert parse_reply(None) == "other"
    assert normalise(None) == ""


@pytest.mark.parametrize(("body", "expected"), [
    ("ＳＴＯＰ。", "STOP"), ("stop!", "STOP"), ("  退订。 ", "退订"), ("ｔｄ", "TD"), ("１", "1"), ("c", "C"),
])
def test_normalise_folds_width_case_and_punctuation(body, expected):
    assert normalise(body) == expected


@given(st.text())
def test_any_text_parses_to_one_of_the_actions(body):
    action = parse_reply(body)
    assert action in ACTIONS


@given(st.text())
def test_text_that_is_not_a_keyword_is_other(body):
    if normalise(body) not in KEYWORDS and parse_preference(body) is None:
        assert parse_reply(body) == "other"
    else:
        assert parse_reply(body) != "other"


_PADDING = st.text(alphabet=" \t\n.,!?;:'\"。，！？；：、~·", max_size=5)


@given(st.sampled_from(sorted(KEYWORDS)), _PADDING, _PADDING, st.booleans())
def test_keywords_survive_case_and_padding(word, before, after, lower):
    expected = parse_reply(word)
    assert expected != "other"
    assert parse_reply(before + (word.lower() if lower else word) + after) == expected
