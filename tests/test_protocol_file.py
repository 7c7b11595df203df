"""Protocol files are validated on load, with the file, line and reason."""

from pathlib import Path

import pytest

from pro_app import create_app
from pro_app.protocol.model import DEFAULT_FILE, ProtocolError, load_protocol


def write_variant(tmp_path, old, new):
    text = DEFAULT_FILE.read_text()
    assert old in text
    path = tmp_path / "protocol.yaml"
    path.write_text(text.replace(old, new, 1))
    return path


def line_of(path, needle):
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_default_protocol_loads():
    protocol = load_protocol()
    assert protocol.site_phone.startswith("+86")
    assert len(protocol.phases) == 3


@pytest.mark.parametrize(("old", "new", "where", "reason"), [
    ("every_weeks: 2\n", "every_weeks: 0\n", "infusions.phases[1].every_weeks", "less than the minimum"),
    ("timezone: Asia/Shanghai", "timezone: Asia/Atlantis", "study.timezone", "unknown time zone"),
    ('phone: "+862223909999"', 'phone: "12345"', "site.phone", "not a valid"),
    ('time: "08:30"', 'time: "8.30"', "infusions.time", "does not match"),
    ("window_days: [2, 2]", "window_days: [7, 7]", "infusions.phases[1].window_days", "overlap"),
    ("from_week: 9\n", "from_week: 8\n", "infusions.phases[1].from_week", "overlaps the phase before"),
    ("{key: day-64, day: 64", "{key: day-29, day: 64", "marrow_aspirates.visits", "appears twice"),
    ("version: 1", "version: 1\nextra: true", "", "Additional properties"),
])
def test_bad_protocol_names_file_line_and_reason(tmp_path, old, new, where, reason):
    path = write_variant(tmp_path, old, new)
    with pytest.raises(ProtocolError) as caught:
        load_protocol(path)
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    assert where in message and reason in message
    if where:
        assert caught.value.line == line_of(path, new.splitlines()[-1].strip())


def test_broken_yaml_reports_line(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: 1\nstudy: [unclosed\n")
    with pytest.raises(ProtocolError, match=r"p.yaml:\d+: not valid YAML"):
        load_protocol(path)


def test_missing_file(tmp_path):
    with pytest.raises(ProtocolError, match="cannot read file"):
        load_protocol(tmp_path / "nope.yaml")


def test_app_refuses_to_start_on_a_bad_protocol(tmp_path):
    path = write_variant(tmp_path, "to_week: 24", "to_week: 2")
    with pytest.raises(ProtocolError, match="ends before it starts"):
        create_app({"PROTOCOL_FILE": str(path), "DATABASE_URL": "sqlite://", "SECRET_KEY": "x"},
                   instance_path=str(tmp_path))
