"""Understanding a reply text (pure)."""

import re
import unicodedata

# "T" and "TD" are how mainland Chinese texts ask to unsubscribe ("回T退订").
OPT_OUT = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "退订", "TD", "T", "退订短信"}
OPT_IN = {"START", "UNSTOP"}
HELP = {"HELP", "INFO", "帮助"}
CONFIRM = {"C", "1", "确认"}
RESCHEDULE = {"R", "2", "改期"}

_PUNCTUATION = re.compile(r"[\s\.,!?;:'\"。，！？；：、~·]+")


def normalise(body):
    """Fold width and case and drop punctuation, so 'ＳＴＯＰ。' reads as 'STOP'."""
    text = unicodedata.normalize("NFKC", body or "").upper()
    return _PUNCTUATION.sub("", text)


def parse_reply(body):
    """Return what a reply asks for: opt_out, opt_in, help, confirm, reschedule or other."""
    word = normalise(body)
    for action, words in (("opt_out", OPT_OUT), ("opt_in", OPT_IN), ("help", HELP),
                          ("confirm", CONFIRM), ("reschedule", RESCHEDULE)):
        if word in words:
            return action
    return "other"
