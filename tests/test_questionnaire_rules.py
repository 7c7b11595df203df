"""Instrument files, branching, answer parsing and scoring: pure, no database."""

import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from pro_app.questionnaires.answers import parse_item, prune, read_section, score, scores, visible_items
from pro_app.questionnaires.instruments import check_file, content_hash

GOOD = textwrap.dedent("""\
    id: test-form
    title: {zh-CN: 测试, en: Test}
    respondents: [self, proxy]
    choices:
      severity:
        - {value: 0, label: {zh-CN: 没有, en: None}}
        - {value: 1, label: {zh-CN: 轻微, en: Mild}}
        - {value: 2, label: {zh-CN: 中等, en: Moderate}}
        - {value: 3, label: {zh-CN: 严重, en: Severe}}
        - {value: 4, label: {zh-CN: 非常严重, en: Very severe}}
    sections:
      - id: one
        title: {zh-CN: 第一页, en: Page one}
        items:
          - {id: temperature, type: number, unit: temperature, min: 34, max: 43, decimals: 1, required: false,
             text: {zh-CN: 体温, en: Temperature}}
          - {id: nausea, type: yesno, text: {self: {zh-CN: 您恶心吗, en: 'Did you feel sick?'},
                                             proxy: {zh-CN: 孩子恶心吗, en: 'Did your child feel sick?'}}}
          - {id: nausea_severity, type: single, choices: severity, show_if: {item: nausea, equals: true},
             text: {zh-CN: 有多严重, en: 'How bad?'}}
      - id: two
        title: {zh-CN: 第二页, en: Page two}
        items:
          - {id: walk, type: single, choices: severity, text: {zh-CN: 走路困难, en: Trouble walking}}
          - {id: dress, type: single, choices: severity, text: {zh-CN: 穿衣困难, en: Trouble dressing}}
          - {id: overall, type: rating, text: {zh-CN: 总体, en: Overall}}
          - {id: when, type: date, required: false, text: {zh-CN: 日期, en: Date}}
          - {id: notes, type: text, required: false, max_length: 20, text: {zh-CN: 备注, en: Notes}}
          - {id: where, type: multiple, required: false, text: {zh-CN: 部位, en: Where},
             choices: [{value: 1, label: {zh-CN: 头, en: Head}}, {value: 2, label: {zh-CN: 腹, en: Belly}}]}
    scores:
      - {id: function, label: {zh-CN: 功能, en: Function}, method: linear, items: [walk, dress],
         range: [0, 4], reverse: true, higher_is_better: true}
      - {id: burden, label: {zh-CN: 负担, en: Burden}, method: sum, items: [walk, dress, nausea_severity]}
      - {id: mean_two, label: {zh-CN: 平均, en: Mean}, method: mean, items: [walk, dress], min_answered: 2}
    alerts:
      - {id: fever, severity: red, when: {item: temperature, gte: 38.0}}
""")


pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def instrument(tmp_path):
    path = tmp_path / "test-form.yaml"
    path.write_text(GOOD)
    found, errors = check_file(path)
    assert errors == []
    return found


@pytest.mark.parametrize(("old", "new", "reason", "item"), [
    ("type: rating", "type: slider", "bad item type 'slider'", "overall"),
    ("show_if: {item: nausea, equals: true}", "show_if: {item: vomiting, equals: true}",
     "refers to item 'vomiting', which does not exist before it", "nausea_severity"),
    ("id: dress,", "id: walk,", "duplicate id", "walk"),
    ("choices: severity, text: {zh-CN: 走路", "choices: pain, text: {zh-CN: 走路",
     "no choice list named 'pain'", "walk"),
    ("show_if: {item: nausea, equals: true}", "show_if: {item: nausea, equals: 7}", "'nausea' has no answer 7",
     "nausea_severity"),
    ("min: 34, max: 43", "min: 43, max: 34", "min must be below max", "temperature"),
    ("items: [walk, dress, nausea_severity]", "items: [walk, dress, notes]", "(text) has no number", "burden"),
])
def test_check_names_file_line_item_and_reason(tmp_path, old, new, reason, item):
    assert old in GOOD
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD.replace(old, new, 1))
    found, errors = check_file(path)
    assert found is None and errors
    message = str(errors[0])
    assert message.startswith(f"{path}:") and reason in message and repr(item) in message
    line = int(message.split(":")[1])
    text = path.read_text().splitlines()[line - 1]
    assert item in text or new.split(",")[0] in text


def test_yaml_and_schema_errors_are_reported(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("id: x\ntitle: [unclosed\n")
    assert "not valid YAML" in str(check_file(path)[1][0])
    path.write_text(GOOD.replace("respondents: [self, proxy]", "respondents: [everyone]"))
    assert "respondents[0]" in str(check_file(path)[1][0])


def test_a_changed_file_is_a_new_version(tmp_path, instrument):
    path = tmp_path / "changed.yaml"
    path.write_text(GOOD.replace("How bad?", "How bad was it?"))
    changed, _ = check_file(path)
    assert changed.version != instrument.version and len(changed.version) == 64
    assert content_hash(instrument.definition) == instrument.version


def test_branching(instrument):
    ids = [i.id for i in visible_items(instrument, {"nausea": False})]
    assert "nausea_severity" not in ids and "walk" in ids
    assert "nausea_severity" in [i.id for i in visible_items(instrument, {"nausea": True})]
    # An answer to an item that a later change hides is dropped.
    assert prune(instrument, {"nausea": False, "nausea_severity": 3, "bogus": 1}) == {"nausea": False}


def test_reading_a_section_with_a_hidden_follow_up(instrument):
    section = instrument.sections[0]
    answers, errors = read_section(section, MultiDict({"nausea": "no", "nausea_severity": "9"}), {})
    assert errors == {} and answers == {"nausea": False}
    answers, errors = read_section(section, MultiDict({"nausea": "yes"}), {})
    assert list(errors) == ["nausea_severity"]
    answers, errors = read_section(section, MultiDict({"nausea": "yes", "nausea_severity": "3",
                                                       "temperature": "101.3", "temperature__unit": "F"}), {})
    assert errors == {} and answers == {"nausea": True, "nausea_severity": 3, "temperature": 38.5}


@pytest.mark.parametrize(("item_id", "raw", "message"), [
    ("temperature", "45", "from 34 to 43°C"),
    ("temperature", "abc", "Enter a number"),
    ("temperature", "nan", "Enter a number"),
    ("overall", "11", "from 0 to 10"),
    ("walk", "7", "Choose one of the answers"),
    ("nausea", "maybe", "Choose yes or no"),
    ("when", "2026-02-30", "Enter a date"),
    ("notes", "x" * 21, "under 20 characters"),
])
def test_bad_answers_get_a_reason(instrument, item_id, raw, message):
    with pytest.raises(ValueError) as caught:
        parse_item(instrument.item(item_id), MultiDict({item_id: raw}))
    assert message in str(caught.value.args[0])


def test_fahrenheit_range_is_stated_in_fahrenheit(instrument):
    with pytest.raises(ValueError, match="°F"):
        parse_item(instrument.item("temperature"), MultiDict({"temperature": "120", "temperature__unit": "F"}))


def test_scores_and_the_half_items_rule(instrument):
    result = scores(instrument, {"walk": 0, "dress": 2, "nausea": True, "nausea_severity": 4})
    assert result == {"function": 75.0, "burden": 6.0, "mean_two": 1.0}
    partial = scores(instrument, {"walk": 1})
    assert partial["function"] == 75.0  # 1 of 2 items is half: scored from the answered one
    assert partial["mean_two"] is None  # needs both
    assert partial["burden"] is None  # 1 of 3 is under half
    assert scores(instrument, {"walk": 0, "dress": 0})["burden"] == 0.0


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(walk=st.one_of(st.none(), st.integers(0, 4)), dress=st.one_of(st.none(), st.integers(0, 4)))
def test_linear_scores_stay_in_0_to_100(instrument, walk, dress):
    answers = {k: v for k, v in {"walk": walk, "dress": dress}.items() if v is not None}
    value = score(instrument.scores[0], answers)
    if answers:
        assert 0 <= value <= 100
        # Less difficulty never gives a lower functioning score.
        better = {k: max(0, v - 1) for k, v in answers.items()}
        assert score(instrument.scores[0], better) >= value
    else:
        assert value is None
