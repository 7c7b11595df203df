"""pro-app questionnaires check."""

import shutil
from pathlib import Path

import pytest

SHIPPED = Path(__file__).resolve().parents[1] / "questionnaires"


def test_shipped_instruments_pass(runner):
    result = runner.invoke(args=["questionnaires", "check"])
    assert result.exit_code == 0, result.output
    assert sum(line.startswith("ok  ") for line in result.output.splitlines()) == 5


@pytest.mark.parametrize(("old", "new", "reason"), [
    ("type: yesno", "type: checkbox", "bad item type 'checkbox'"),
    ("show_if: {item: ", "show_if: {item: no_such_item, x: ", "'x' was unexpected"),
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
    assert "3 of 5" not in result.output and "1 of 5 instrument file(s) have errors" in result.output


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


def test_a_site_instrument_in_a_local_folder_loads_like_any_other(tmp_path):
    from pro_app import create_app
    from pro_app.questionnaires import instrument_folders

    local = tmp_path / "local"
    local.mkdir()
    (local / "site-form.yaml").write_text("""id: site-form
title: {zh-CN: 本院量表, en: Site form}
respondents: [self]
sections:
  - id: one
    title: {zh-CN: 一, en: One}
    items:
      - {id: overall, type: rating, text: {zh-CN: 总体, en: Overall}}
scores:
  - {id: overall, label: {zh-CN: 总体, en: Overall}, method: linear, items: [overall], range: [0, 10]}
""")
    app = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "x",
                      "QUESTIONNAIRE_DIRS": f"{SHIPPED}:{local}"}, instance_path=str(tmp_path))
    instruments = app.extensions["pro_instruments"]
    assert "site-form" in instruments and "symptom-check" in instruments
    assert instruments["site-form"].source.endswith("local/site-form.yaml")
    # By default the shipped folder's own local/ (ignored by git) is searched as well.
    default = create_app({"DATABASE_URL": "sqlite://", "SECRET_KEY": "x"}, instance_path=str(tmp_path))
    assert instrument_folders(default)[-1].endswith("questionnaires/local")
