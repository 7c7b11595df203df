"""CSV exports: a cell a spreadsheet would run as a formula is written with a leading apostrophe.

Plain numbers (-1.5, +3, -2e3) are data and stay as they are; any other text starting with
=, +, -, @, a tab or a carriage return is neutralised. The rule lives in one writer
(pro_app/exports/csvfile.py) that every export uses.
"""

import csv
import io

import pytest
from conftest import NOW
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from pro_app.alerts.models import Alert
from pro_app.db import db
from pro_app.exports.csvfile import TRIGGERS, safe_cell, write_csv
from pro_app.exports.datasets import run
from pro_app.participants.models import Participant

FORMULAS = ["=1+1", "=HYPERLINK(\"http://evil.example\",\"click\")", "+SUM(A1:A2)", "-2+3", "@SUM(A1)",
            "\t=1", "\r=1", "=cmd|' /C calc'!A0", "-", "+", "@", "-1.5e", "--1", "- 1", "+1-1"]
NUMBERS = ["-1.5", "+3", "-2e3", "-0", "-.5", "+1.", "42", "-7E-2"]


@pytest.mark.parametrize("value", FORMULAS)
def test_formula_like_cells_get_a_leading_apostrophe(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", NUMBERS)
def test_plain_numbers_are_data_and_stay_as_they_are(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize(("value", "written"), [(None, ""), (-1.5, -1.5), (7, 7), ("note", "note"),
                                                 ("a=b", "a=b"), ("", "")])
def test_other_values_are_written_as_they_are(value, written):
    assert safe_cell(value) == written


@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "=c"]), st.one_of(st.text(), st.none(), st.integers()),
                                min_size=3, max_size=3), max_size=5))
def test_no_written_cell_starts_a_formula_and_nothing_else_changes(rows):
    out = io.StringIO()
    assert run(write_csv(out, ["a", "b", "=c"], rows)) == len(rows)
    read = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    assert read[0] == ["a", "b", "'=c"]
    for row, written in zip(rows, read[1:], strict=True):
        for key, cell in zip(["a", "b", "=c"], written, strict=True):
            value = "" if row[key] is None else str(row[key])
            if cell.startswith(TRIGGERS):
                assert cell == value and safe_cell(value) == value  # a plain number
            else:
                assert cell in (value, "'" + value)
                assert cell == value or value.startswith(TRIGGERS)


def test_the_alerts_export_neutralises_a_nurses_note(app, runner, make_participant, tmp_path):
    make_participant("P-001")
    with app.app_context():
        participant_id = db.session.scalar(select(Participant.id))
        db.session.add(Alert(participant_id=participant_id, rule="=HYPERLINK(\"x\")", severity="amber", detail={},
                             opened_at=NOW, last_seen_at=NOW, note="-called, +advised @home =fine"))
        db.session.commit()
    out = tmp_path / "alerts.csv"
    result = runner.invoke(args=["export", "alerts", "--out", str(out)])
    assert result.exit_code == 0, result.output
    row = next(csv.DictReader(out.open(newline="", encoding="utf-8")))
    assert row["note"] == "'-called, +advised @home =fine"
    assert row["rule"] == "'=HYPERLINK(\"x\")"
    assert row["study_id"] == "P-001" and row["severity"] == "amber"
