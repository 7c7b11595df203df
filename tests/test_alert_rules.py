"""Alert rules on answers, missed questionnaires and unreachable contacts: pure, no database."""

import json
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pro_app.alerts.rules import (
    Finding,
    evaluate,
    missed_finding,
    missed_in_a_row,
    unreachable_finding,
    worst,
)
from pro_app.questionnaires.answers import celsius, scores
from pro_app.questionnaires.instruments import check_file

FOLDER = Path(__file__).resolve().parent.parent / "questionnaires"


def _shipped(instrument_id):
    instrument, errors = check_file(FOLDER / f"{instrument_id}.yaml")
    assert not errors, errors
    return instrument


POST = _shipped("post-infusion")
SYMPTOMS = _shipped("symptom-check")
QOL = _shipped("quality-of-life")
# Warning signs ask "is it happening now?": 0 no, 1 earlier (amber), 2 now (red).
NO_RED_FLAGS = {"breathing": 0, "throat_swelling": 0, "chest_heart": 0, "fainting": 0,
                "bleeding": 0, "confusion": 0, "vision": 0}

EDGE = textwrap.dedent("""\
    id: edge-form
    title: {zh-CN: 测试, en: Test}
    respondents: [self]
    choices:
      level:
        - {value: 0, label: {zh-CN: 没有, en: None}}
        - {value: 1, label: {zh-CN: 轻微, en: Mild}}
        - {value: 2, label: {zh-CN: 中等, en: Moderate}}
        - {value: 3, label: {zh-CN: 严重, en: Severe}}
        - {value: 4, label: {zh-CN: 非常严重, en: Very severe}}
    sections:
      - id: one
        title: {zh-CN: 第一页, en: Page one}
        items:
          - {id: unwell, type: yesno, text: {zh-CN: 不舒服吗, en: 'Unwell?'}}
          - {id: bleeding, type: yesno, red_flag: true, show_if: {item: unwell, equals: true},
             text: {zh-CN: 出血吗, en: 'Bleeding?'}}
          - {id: breathing, type: yesno, red_flag: true, text: {zh-CN: 呼吸困难吗, en: 'Trouble breathing?'}}
          - {id: weight, type: number, unit: {zh-CN: 公斤, en: kg}, min: 1, max: 200,
             text: {zh-CN: 体重, en: Weight}}
          - {id: pain, type: single, choices: level, text: {zh-CN: 疼痛, en: Pain}}
          - {id: tired, type: single, choices: level, text: {zh-CN: 疲乏, en: Tiredness}}
          - {id: note, type: text, required: false, text: {zh-CN: 备注, en: Note}}
    scores:
      - {id: burden, label: {zh-CN: 负担, en: Burden}, method: sum, items: [pain, tired], higher_is_better: false}
    alerts:
      - {id: red_flags, severity: red, any_red_flag: true}
      - {id: heavy, severity: amber, when: {item: weight, gte: 100}}
      - {id: worse, severity: amber, worsening: {items: [pain, tired], by: 2}}
      - {id: burden_up, severity: amber, score_drop: {score: burden, by: 3}}
    """)


@pytest.fixture
def edge(tmp_path):
    path = tmp_path / "edge-form.yaml"
    path.write_text(EDGE, encoding="utf-8")
    instrument, errors = check_file(path)
    assert not errors, errors
    return instrument


def _rules(findings):
    return {f.rule for f in findings}


def _one(findings, rule):
    matching = [f for f in findings if f.rule == rule]
    assert len(matching) == 1, findings
    return matching[0]


# Thresholds --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (1, set()),
    (2, set()),
    (3, {("post-infusion:nausea_severe", "amber")}),
    (4, {("post-infusion:vomiting_very_severe", "red")}),
])
def test_post_infusion_severity_thresholds(value, expected):
    answers = {"nausea": True, "nausea_severity": value, **NO_RED_FLAGS}
    found = evaluate(POST, answers, {})
    assert {(f.rule, f.severity) for f in found} == expected


@pytest.mark.parametrize(("item", "value", "expected"), [
    ("pain", 2, set()),
    ("pain", 3, {("symptom-check:pain_severe", "amber")}),
    # Very severe pain, tiredness or mouth sores: a nurse calls (amber), not the emergency department.
    ("pain", 4, {("symptom-check:pain_severe", "amber")}),
    ("tired", 4, {("symptom-check:tired_severe", "amber")}),
    ("mouth_sores", 4, {("symptom-check:mouth_sores_severe", "amber")}),
    ("cough", 4, {("symptom-check:cough_severe", "amber")}),
    ("vomiting", 3, {("symptom-check:vomiting_severe", "amber")}),
    ("vomiting", 4, {("symptom-check:vomiting_very_severe", "red")}),
    ("diarrhoea", 4, {("symptom-check:diarrhoea_very_severe", "red")}),
])
def test_symptom_check_severity_thresholds(item, value, expected):
    answers = {f"{item}_frequency": 2, f"{item}_severity": value, **NO_RED_FLAGS}
    assert {(f.rule, f.severity) for f in evaluate(SYMPTOMS, answers, {})} == expected


def test_threshold_detail_names_the_item_and_value():
    found = evaluate(POST, {"rash": True, "rash_severity": 3}, {})
    assert _one(found, "post-infusion:rash_severe").detail == {"item": "rash_severity", "value": 3,
                                                                "values": [3, 4]}


def test_a_stale_answer_to_a_hidden_item_does_not_fire():
    # "No chills" hides the severity question, so a leftover "very severe" is not an answer.
    assert evaluate(POST, {"chills": False, "chills_severity": 4}, {}) == []


# Red flags ---------------------------------------------------------------------------------------


def test_a_warning_sign_now_is_red_and_names_the_item():
    found = evaluate(POST, {**NO_RED_FLAGS, "bleeding": 2}, {})
    finding = _one(found, "post-infusion:bleeding_now")
    assert finding.severity == "red" and len(found) == 1
    assert finding.detail == {"item": "bleeding", "value": 2, "values": [2]}


@pytest.mark.parametrize("instrument", [POST, SYMPTOMS], ids=lambda i: i.id)
@pytest.mark.parametrize(("answer", "severity"), [(0, None), (1, "amber"), (2, "red")])
def test_trouble_breathing_earlier_this_week_is_amber_and_now_is_red(instrument, answer, severity):
    """Acceptance 4: "Trouble breathing: earlier this week, not now" gives amber; "now" gives red."""
    found = evaluate(instrument, {**NO_RED_FLAGS, "breathing": answer}, {})
    assert worst(found) == severity
    assert [f.detail["item"] for f in found] == (["breathing"] if severity else [])


def test_every_warning_sign_now_is_listed_as_its_own_red_rule():
    found = evaluate(SYMPTOMS, {k: 2 for k in NO_RED_FLAGS}, {})
    assert {f.detail["item"] for f in found} == set(NO_RED_FLAGS)
    assert {f.severity for f in found} == {"red"}


def test_all_red_flags_no_is_nothing():
    assert evaluate(POST, NO_RED_FLAGS, {}) == []
    assert evaluate(SYMPTOMS, NO_RED_FLAGS, {}) == []


def test_a_hidden_red_flag_does_not_count(edge):
    assert evaluate(edge, {"unwell": False, "bleeding": True, "breathing": False}, {}) == []
    found = evaluate(edge, {"unwell": True, "bleeding": True, "breathing": False}, {})
    assert _one(found, "edge-form:red_flags").detail == {"items": ["bleeding"]}


@pytest.mark.parametrize("odd", [True, "2", "now", [2], None, 2.0])
def test_a_warning_sign_counts_only_for_a_well_formed_answer(odd):
    assert evaluate(POST, {**NO_RED_FLAGS, "breathing": odd}, {}) == []


# Temperature -------------------------------------------------------------------------------------


@pytest.mark.parametrize("instrument", [POST, SYMPTOMS], ids=lambda i: i.id)
@pytest.mark.parametrize(("temperature", "fires"), [(36.5, False), (37.9, False), (38.0, True), (39.4, True)])
def test_fever_in_celsius(instrument, temperature, fires):
    found = evaluate(instrument, {"temperature": temperature}, {})
    assert _rules(found) == ({f"{instrument.id}:fever"} if fires else set())
    if fires:
        assert _one(found, f"{instrument.id}:fever").severity == "red"


@pytest.mark.parametrize(("fahrenheit", "fires"), [(100.2, False), (100.4, True)])
def test_fever_in_fahrenheit_after_conversion(fahrenheit, fires):
    found = evaluate(POST, {"temperature": celsius(fahrenheit, "F")}, {})
    assert ("post-infusion:fever" in _rules(found)) is fires


def test_fever_detail_gives_value_and_threshold():
    found = evaluate(POST, {"temperature": 38.6}, {})
    assert _one(found, "post-infusion:fever").detail == {"item": "temperature", "value": 38.6, "threshold": 38.0}


@pytest.mark.parametrize(("temperature", "fires"), [(37.7, False), (37.8, True), (38.0, True)])
def test_site_fever_threshold_overrides_the_instrument(temperature, fires):
    found = evaluate(POST, {"temperature": temperature}, {}, fever_celsius=37.8)
    assert ("post-infusion:fever" in _rules(found)) is fires
    if fires:
        assert _one(found, "post-infusion:fever").detail["threshold"] == 37.8


def test_a_higher_site_threshold_also_overrides():
    assert evaluate(POST, {"temperature": 38.0}, {}, fever_celsius=38.5) == []
    assert _rules(evaluate(POST, {"temperature": 38.5}, {}, fever_celsius=38.5)) == {"post-infusion:fever"}


def test_site_fever_threshold_leaves_other_number_items_alone(edge):
    assert evaluate(edge, {"weight": 99}, {}, fever_celsius=37.8) == []
    assert _rules(evaluate(edge, {"weight": 100}, {}, fever_celsius=37.8)) == {"edge-form:heavy"}


def test_no_temperature_is_no_fever():
    assert evaluate(POST, {}, {}, fever_celsius=37.5) == []


# Worsening ---------------------------------------------------------------------------------------


def _nausea(severity):
    return {"nausea_frequency": 2, "nausea_severity": severity}


@pytest.mark.parametrize(("before", "now", "fires"), [(1, 3, True), (2, 3, False), (1, 4, True), (4, 1, False)])
def test_worse_than_previous(before, now, fires):
    found = evaluate(SYMPTOMS, _nausea(now), {}, previous=_nausea(before))
    assert ("symptom-check:nausea_worse" in _rules(found)) is fires


@pytest.mark.parametrize(("before", "now", "fires"), [(1, 3, True), (2, 3, False)])
def test_worse_than_baseline(before, now, fires):
    found = evaluate(SYMPTOMS, _nausea(now), {}, previous=_nausea(now), baseline=_nausea(before))
    assert ("symptom-check:nausea_worse" in _rules(found)) is fires


def test_worsening_detail_says_which_comparison_fired():
    found = evaluate(SYMPTOMS, _nausea(3), {}, previous=_nausea(2), baseline=_nausea(1))
    finding = _one(found, "symptom-check:nausea_worse")
    assert finding.severity == "amber"
    assert finding.detail == {"by": 2, "items": [
        {"item": "nausea_severity", "now": 3, "previous": 2, "baseline": 1, "compared_with": ["baseline"]}]}


def test_both_comparisons_can_fire():
    found = evaluate(SYMPTOMS, _nausea(4), {}, previous=_nausea(2), baseline=_nausea(1))
    detail = _one(found, "symptom-check:nausea_worse").detail
    assert detail["items"][0]["compared_with"] == ["previous", "baseline"]


@pytest.mark.parametrize("previous", [None, {}, {"nausea_frequency": 0}])
def test_no_previous_answer_compares_with_baseline_only(previous):
    found = evaluate(SYMPTOMS, _nausea(3), {}, previous=previous, baseline=_nausea(1))
    item = _one(found, "symptom-check:nausea_worse").detail["items"][0]
    assert item["previous"] is None
    assert item["compared_with"] == ["baseline"]


def test_no_earlier_answers_is_no_worsening():
    assert "symptom-check:nausea_worse" not in _rules(evaluate(SYMPTOMS, _nausea(4), {}))


@pytest.mark.parametrize("odd", ["1", True, False, [1], None, {"v": 1}])
def test_non_numbers_are_not_compared(odd):
    found = evaluate(SYMPTOMS, _nausea(3), {}, previous={"nausea_severity": odd}, baseline={"nausea_severity": odd})
    assert "symptom-check:nausea_worse" not in _rules(found)


def test_a_non_number_now_is_not_compared(edge):
    assert evaluate(edge, {"pain": "4"}, {}, previous={"pain": 0}) == []


def test_one_finding_per_rule_listing_only_the_items_that_worsened(edge):
    found = evaluate(edge, {"pain": 4, "tired": 3}, {}, previous={"pain": 1, "tired": 2}, baseline={"tired": 1})
    finding = _one(found, "edge-form:worse")
    assert [i["item"] for i in finding.detail["items"]] == ["pain", "tired"]
    assert finding.detail["items"][0]["compared_with"] == ["previous"]
    assert finding.detail["items"][1]["compared_with"] == ["baseline"]
    found = evaluate(edge, {"pain": 4, "tired": 3}, {}, previous={"pain": 1, "tired": 2})
    assert [i["item"] for i in _one(found, "edge-form:worse").detail["items"]] == ["pain"]


# Score drop --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "fires"), [(75.0, False), (66.7, False), (65.0, True), (58.3, True), (90.0, False)])
def test_quality_of_life_drop_from_baseline(now, fires):
    found = evaluate(QOL, {}, {"emotional": now, "physical": None},
                     baseline_scores={"emotional": 75.0, "physical": 50.0})
    assert _rules(found) == ({"quality-of-life:emotional_drop"} if fires else set())


def test_score_drop_detail():
    found = evaluate(QOL, {}, {"school": 58.3}, baseline_scores={"school": 75.0})
    finding = _one(found, "quality-of-life:school_drop")
    assert finding.severity == "amber"
    assert finding.detail == {"score": "school", "now": 58.3, "baseline": 75.0, "worse_by": 16.7, "by": 10,
                              "higher_is_better": True}


def test_score_drop_is_from_baseline_not_previous():
    kwargs = {"previous_scores": {"physical": 90.0}, "baseline_scores": {"physical": 75.0}}
    assert evaluate(QOL, {}, {"physical": 70.0}, **kwargs) == []
    assert _rules(evaluate(QOL, {}, {"physical": 60.0}, **kwargs)) == {"quality-of-life:physical_drop"}


@pytest.mark.parametrize(("now", "baseline"), [(None, 75.0), (50.0, None), ("50", 75.0), (50.0, True),
                                             (50.0, float("inf")), (float("nan"), 75.0)])
def test_missing_scores_are_no_drop(now, baseline):
    assert evaluate(QOL, {}, {"global": now}, baseline_scores={"global": baseline}) == []
    assert evaluate(QOL, {}, {"global": now}) == []


QOL_BEST = {"walking": 4, "active_play": 4, "self_care": 4, "up_and_about": 4, "worried": 4, "low_mood": 4,
            "irritable": 4, "good_mood": 4, "school_work": 4, "concentrate": 4, "usual_days": 4, "learning": 4,
            "friends": 4, "enjoyment": 4, "support": 4, "get_along": 4, "overall_life": 8}


def test_one_step_down_on_the_overall_rating_is_not_a_drop():
    # The overall rating is a single 0-10 item: 8 -> 7 is 10 points on its own but no domain moved.
    after = {**QOL_BEST, "overall_life": 7}
    assert evaluate(QOL, after, scores(QOL, after), baseline_scores=scores(QOL, QOL_BEST)) == []


@pytest.mark.parametrize("item", ["walking", "worried", "school_work", "friends"])
def test_one_step_on_one_item_of_a_domain_is_not_a_drop_but_two_steps_are(item):
    base = scores(QOL, QOL_BEST)
    one = {**QOL_BEST, item: 3}
    assert evaluate(QOL, one, scores(QOL, one), baseline_scores=base) == []
    two = {**QOL_BEST, item: 2}
    found = evaluate(QOL, two, scores(QOL, two), baseline_scores=base)
    assert [f.severity for f in found] == ["amber"] and found[0].rule.endswith("_drop")


@pytest.mark.parametrize(("answer", "fires"), [(4, False), (3, False), (2, False), (1, True), (0, True)])
def test_low_mood_often_or_most_of_the_time_is_amber(answer, fires):
    found = evaluate(QOL, {**QOL_BEST, "low_mood": answer}, {})
    assert _rules(found) == ({"quality-of-life:low_mood"} if fires else set())


@pytest.mark.parametrize(("now", "fires"), [(4, False), (5, True), (8, True), (1, False)])
def test_a_lower_is_better_score_fires_on_an_increase(edge, now, fires):
    found = evaluate(edge, {}, {"burden": now}, baseline_scores={"burden": 2})
    assert ("edge-form:burden_up" in _rules(found)) is fires
    if fires:
        assert _one(found, "edge-form:burden_up").detail["worse_by"] == now - 2


# Odd data ----------------------------------------------------------------------------------------

ODD = [None, [], "text", 3, {"temperature": "hot"}, {"temperature": [37.0, "x"]}, {"temperature": None},
       {"nausea": True, "nausea_severity": [3, "x"]}, {"nausea": "yes", "nausea_severity": 4},
       {"nausea_frequency": {"a": 1}, "nausea_severity": 4}, {"tired_frequency": [None], "tired_severity": 3},
       {"unknown": 1}, {"breathing": "yes"}, {"temperature": float("nan")}]


@pytest.mark.parametrize("instrument", [POST, SYMPTOMS, QOL], ids=lambda i: i.id)
@pytest.mark.parametrize("answers", ODD)
def test_odd_data_never_raises(instrument, answers):
    found = evaluate(instrument, answers, answers, previous=answers, baseline=answers, previous_scores=answers,
                     baseline_scores=answers, fever_celsius=38.0)
    assert found == []


# Outside answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("states", "n", "expected"), [
    ([], 2, False),
    (["expired"], 2, False),
    (["completed", "expired"], 2, False),
    (["expired", "completed"], 2, False),
    (["expired", "expired"], 2, True),
    (["expired", "completed", "expired", "expired"], 2, True),
    (["expired", "expired"], 3, False),
    (["completed", "expired", "expired"], 3, False),
    (["expired", "expired", "expired"], 3, True),
    (["completed", "expired", "expired", "expired"], 3, True),
    (["expired", "expired", "completed"], 3, False),
    (["expired"], 1, True),
])
def test_missed_in_a_row(states, n, expected):
    assert missed_in_a_row(states, n) is expected


def test_missed_in_a_row_default_is_two():
    assert missed_in_a_row(["completed", "expired", "expired"]) is True
    assert missed_in_a_row(iter(["expired", "expired"])) is True


def test_missed_in_a_row_needs_a_positive_count():
    with pytest.raises(ValueError):
        missed_in_a_row(["expired"], 0)


def test_missed_finding():
    finding = missed_finding("symptom-check", 2)
    assert finding == Finding("missed-questionnaires", "amber", {"instrument": "symptom-check", "missed_in_a_row": 2})


@pytest.mark.parametrize(("reason", "code"), [("opted out", None), ("unreachable", 30006)])
def test_unreachable_finding(reason, code):
    finding = unreachable_finding(reason, code)
    assert finding == Finding("unreachable-contact", "amber", {"reason": reason, "error_code": code})
    json.dumps(finding.detail)


def test_unreachable_finding_knows_its_reasons():
    with pytest.raises(ValueError):
        unreachable_finding("busy")


@pytest.mark.parametrize(("severities", "expected"), [
    ([], None), (["amber"], "amber"), (["amber", "amber"], "amber"), (["red"], "red"), (["amber", "red"], "red"),
])
def test_worst(severities, expected):
    assert worst([Finding("x:y", s, {}) for s in severities]) == expected


def test_worst_accepts_any_iterable():
    assert worst(f for f in [missed_finding("symptom-check", 2)]) == "amber"


# Properties --------------------------------------------------------------------------------------


def _answer(item):
    if item.type == "single":
        return st.sampled_from([value for value, _label in item.choices])
    if item.type == "multiple":
        return st.lists(st.sampled_from([value for value, _label in item.choices]), unique=True).map(sorted)
    if item.type == "yesno":
        return st.booleans()
    if item.type == "rating":
        return st.integers(0, 10)
    if item.type == "number":
        return st.floats(item.min, item.max).map(lambda v: round(v, max(item.decimals, 1)))
    if item.type == "date":
        return st.dates().map(lambda d: d.isoformat())
    return st.text(max_size=20)


def _answers(instrument):
    optional = {item.id: st.one_of(st.none(), _answer(item)) for item in instrument.items()}
    return st.fixed_dictionaries(optional).map(lambda d: {k: v for k, v in d.items() if v is not None})


SYMPTOM_ANSWERS = _answers(SYMPTOMS)
# Items whose answers are ordered from better to worse (not checklists, yes/no or "not sure" lists).
SEVERITY_ITEMS = sorted({rule.when.item for rule in SYMPTOMS.alerts if rule.when is not None and rule.when.values
                         and (rule.when.item.endswith("_severity") or rule.when.item in NO_RED_FLAGS
                              or rule.when.item in ("drinking", "urine"))})
RANK = {"amber": 1, "red": 2}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=SYMPTOM_ANSWERS, previous=SYMPTOM_ANSWERS, baseline=SYMPTOM_ANSWERS,
       fever=st.one_of(st.none(), st.sampled_from([37.5, 37.8, 38.0, 38.5])))
def test_symptom_check_findings_are_well_formed(answers, previous, baseline, fever):
    found = evaluate(SYMPTOMS, answers, scores(SYMPTOMS, answers), previous=previous, baseline=baseline,
                     previous_scores=scores(SYMPTOMS, previous), baseline_scores=scores(SYMPTOMS, baseline),
                     fever_celsius=fever)
    allowed = {f"symptom-check:{rule.id}" for rule in SYMPTOMS.alerts}
    assert all(f.rule in allowed for f in found)
    assert all(f.severity in ("red", "amber") for f in found)
    assert len(_rules(found)) == len(found)
    json.dumps([f.detail for f in found])


def _threshold_by_item(found):
    """Map each item with a threshold finding to its worst severity rank."""
    when = {f"symptom-check:{rule.id}": rule.when.item for rule in SYMPTOMS.alerts if rule.when is not None}
    ranks = {}
    for f in found:
        if f.rule in when:
            ranks[when[f.rule]] = max(ranks.get(when[f.rule], 0), RANK[f.severity])
    return ranks


@settings(max_examples=200, deadline=None)
@given(answers=SYMPTOM_ANSWERS, item=st.sampled_from(SEVERITY_ITEMS), data=st.data())
def test_raising_a_severity_never_removes_a_threshold_finding(answers, item, data):
    values = [value for value, _label in SYMPTOMS.item(item).choices]
    low = data.draw(st.sampled_from(values), label="low")
    high = data.draw(st.sampled_from([v for v in values if v >= low]), label="high")
    before = _threshold_by_item(evaluate(SYMPTOMS, {**answers, item: low}, {}))
    after = _threshold_by_item(evaluate(SYMPTOMS, {**answers, item: high}, {}))
    # Going up an ordered answer list swaps amber for red (or keeps amber), never drops it.
    assert all(after.get(name, 0) >= rank for name, rank in before.items())
