"""pro-app questionnaires check."""

import shutil
from pathlib import Path

import pytest

SHIPPED = Path(__file__).resolve().parents[1] / "questionnaires"


def test_shipped_instruments_pass(runner):
    result = runner.invoke(args=["questionnaires", "check"])
    assert result.exit_code == 0, result.output
    assert sum(line.startswith("ok  ") for line in result.output.splitlines()) == 4


@pytest.mark.parametrize(("old", "new", "reason"), [
    ("type: yesno", "type: checkbox", "bad item type 'checkbox'"),
    ("show_if: {item: ", "show_if: {item: no_such_item, x: ", ""),
])
def test_a_broken_file_is_named_with_line_item_and_reason(runner, tmp_path, old, new, reason):
    folder = tmp_path / "instruments"
    shutil.copytree(SHIPPED, folder, ignore=shutil.ignore_patterns("local", "*.md"))
    path = folder / "post-infusion.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    result = runner.invoke(args=["questionnaires", "check", str(folder)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith(str(path))]
    assert errors, result.output
    assert reason in errors[0]
    assert "3 of 4" not in result.output and "1 of 4 instrument file(s) have errors" in result.output


def test_missing_item_in_branching_and_duplicate_ids(runner, tmp_path):
    path = tmp_path / "form.yaml"
    path.write_text("""id: form
title: {zh-CN: 表, en: Form}
respondents: [self]
sections:
  - id: one
    title: {zh-CN: 一, en: One}
    items:
      - {id: first, type: yesno, text: {zh-CN: 一, en: One}}
      - {id: second, type: yesno, show_if: {item: missing, equals: true}, text: {zh-CN: 二, en: Two}}
      - {id: first, type: yesno, text: {zh-CN: 三, en: Three}}
""")
    result = runner.invoke(args=["questionnaires", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:9: sections[0].items[1].show_if.item: item 'second': refers to item 'missing'" in result.output
    assert f"{path}:10: sections[0].items[2].id: item 'first': duplicate id" in result.output
