"""Understanding a reply text (pure)."""

import re
import unicodedata
from datetime import time

# "T" and "TD" are how mainland Chinese texts ask to unsubscribe ("回T退订").
OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "退订", "TD", "T", "退订短信"}
OPT_IN = {"START", "UNSTOP"}
HELP = {"HELP", "INFO", "帮助"}
CONFIRM = {"C", "1", "确认"}
RESCHEDULE = {"R", "2", "改期"}
#: Words that choose the language of the texts.
LANGUAGES = {"EN": "en", "ENGLISH": "en", "英文": "en", "中文": "zh-CN", "ZH": "zh-CN", "CHINESE": "zh-CN",
             "简体中文": "zh-CN", "汉语": "zh-CN"}
# The evening reminder time: "TIME 19", "时间 19", "TIME 19:00", "19:00", "19点", "7PM". A bare
# "19" stays free text: numbers alone are answers to other questions ("1", "2", a temperature).
_TIME = re.compile(r"(?:TIME|时间)(?P<a>\d{1,2})(?:00|点钟?)?|(?P<b>\d{2})00|(?P<c>\d{1,2})点钟?|(?P<pm>\d{1,2})PM")

_PUNCTUATION = re.compile(r"[\s\.,!?;:'\"。，！？；：、~·]+")


def normalise(body):
    """Fold width and case and drop punctuation, so 'ＳＴＯＰ。' reads as 'STOP'."""
    text = unicodedata.normalize("NFKC", body or "").upper()
    return _PUNCTUATION.sub("", text)


def parse_preference(body):
    """Return the setting a reply asks for, ("language", "en") or ("evening_time", time(19)), or None.

    Any hour of the day is read; whether it is one a family may choose is not decided here.
    """
    word = normalise(body)
    if word in LANGUAGES:
        return "language", LANGUAGES[word]
    match = _TIME.fullmatch(word)
    if match is None:
        return None
    pm = match["pm"]
    hour = int(match["a"] or match["b"] or match["c"] or pm) + (12 if pm and int(pm) < 12 else 0)
    if hour > 23 or (pm and not 1 <= int(pm) <= 12):
        return None
    return "evening_time", time(hour, 0)


def parse_reply(body):
    """Return what a reply asks for: opt_out, opt_in, help, confirm, reschedule, language, evening_time or other."""
    word = normalise(body)
    for action, words in (("opt_out", OPT_OUT), ("opt_in", OPT_IN), ("help", HELP),
                          ("confirm", CONFIRM), ("reschedule", RESCHEDULE)):
        if word in words:
            return action
    preference = parse_preference(body)
    return preference[0] if preference else "other"
