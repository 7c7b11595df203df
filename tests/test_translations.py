"""Every text on every page exists in Simplified Chinese, placeholders intact."""

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
PO = ROOT / "pro_app/translations/zh_Hans_CN/LC_MESSAGES/messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def catalog():
    with open(PO, "rb") as fh:
        return read_po(fh)


def test_every_message_is_translated_with_the_same_placeholders():
    messages = [m for m in catalog() if m.id]
    assert len(messages) > 200
    for m in messages:
        # A plural entry is (singular, plural) with one translation per Chinese form (one).
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        assert all(strings), f"untranslated: {m.id!r}"
        for string in strings:
            assert sorted(PLACEHOLDER.findall(ids[-1])) == sorted(PLACEHOLDER.findall(string)), m.id
        assert "fuzzy" not in m.flags, m.id


def test_the_catalogue_holds_every_marked_text_in_the_code():
    known = {m.id for m in catalog() if m.id}
    method_map = [("pro_app/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}
    found = {msg for _f, _l, msg, *_ in extract_from_dir(str(ROOT), method_map, keywords=keywords)
             if isinstance(msg, str)}
    assert found, "nothing extracted"
    missing = sorted(found - known)
    assert not missing, f"run `make messages` and translate: {missing}"
