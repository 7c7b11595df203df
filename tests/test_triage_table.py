"""The triage table in questionnaires/README.md says what the instrument files do (no database)."""

import re
from pathlib import Path

import pytest

from pro_app.questionnaires.instruments import check_file, instrument_files

FOLDER = Path(__file__).resolve().parent.parent / "questionnaires"
README = FOLDER / "README.md"
INSTRUMENTS = {i.id: i for i in (check_file(p)[0] for p in instrument_files([FOLDER]))}


def _token(raw):
    """Read one backticked cell value: a choice, yes/no, >= n, +n (worse by), -n (score drop)."""
    raw = raw.strip()
    if raw in ("yes", "no"):
        return ("value", raw == "yes")
    if raw.startswith(">="):
        return ("gte", float(raw[2:]))
    if raw.startswith("+"):
        return ("worse", float(raw[1:]))
    if raw.startswith("-"):
        return ("drop", float(raw[1:]))
    return ("value", int(raw))


def table():
    """Return {instrument: {row (item id or score:id): {"red": set, "amber": set, "why": str}}}."""
    found, current = {}, None
    for line in README.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^### (\S+)\s*$", line)
        if heading:
            current = found.setdefault(heading.group(1), {})
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if current is None or not line.startswith("|") or len(cells) != 5 or cells[0] in ("item", "---"):
            continue
        row, why, red, amber, _nothing = cells
        current[row] = {"why": why, "red": {_token(t) for t in re.findall(r"`([^`]+)`", red)},
                        "amber": {_token(t) for t in re.findall(r"`([^`]+)`", amber)}}
    return found


def from_rules(instrument):
    """The same mapping built from the instrument's alert rules."""
    rows = {item.id: {"red": set(), "amber": set()} for item in instrument.items()}
    for rule in instrument.alerts:
        if rule.when is not None:
            target = rows[rule.when.item][rule.severity]
            if rule.when.gte is not None:
                target.add(("gte", rule.when.gte))
            else:
                target.update(("value", v) for v in rule.when.values)
        elif rule.worsening:
            for item_id in rule.worsening["items"]:
                rows[item_id][rule.severity].add(("worse", float(rule.worsening["by"])))
        elif rule.score_drop:
            row = rows.setdefault(f"score:{rule.score_drop['score']}", {"red": set(), "amber": set()})
            row[rule.severity].add(("drop", float(rule.score_drop["by"])))
        else:
            raise AssertionError(f"{instrument.id}:{rule.id}: a rule the table cannot show")
    return rows


def test_the_table_has_every_shipped_instrument():
    assert set(table()) == set(INSTRUMENTS)


@pytest.mark.parametrize("instrument_id", sorted(INSTRUMENTS))
def test_the_table_and_the_instrument_agree_item_by_item(instrument_id):
    written, actual = table()[instrument_id], from_rules(INSTRUMENTS[instrument_id])
    assert set(written) == set(actual), set(written) ^ set(actual)
    for row, rules in actual.items():
        assert written[row]["why"].strip(" —"), f"{instrument_id} {row}: say why it is asked"
        for severity in ("red", "amber"):
            assert written[row][severity] == rules[severity], (instrument_id, row, severity)


def test_the_checker_would_notice_a_changed_severity(tmp_path):
    """Swap one rule's severity in a copy: the comparison above must then fail."""
    source = (FOLDER / "symptom-check.yaml").read_text(encoding="utf-8")
    changed = source.replace("{id: breathing_now, severity: red,", "{id: breathing_now, severity: amber,")
    assert changed != source
    path = tmp_path / "symptom-check.yaml"
    path.write_text(changed, encoding="utf-8")
    instrument, errors = check_file(path)
    assert not errors
    assert from_rules(instrument)["breathing"] != {k: table()["symptom-check"]["breathing"][k]
                                                   for k in ("red", "amber")}
