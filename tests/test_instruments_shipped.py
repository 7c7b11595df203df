"""The instruments shipped in questionnaires/ load cleanly and say what the study needs (no database)."""

import unicodedata
from pathlib import Path

import pytest
import yaml

from pro_app.questionnaires.answers import scores, visible
from pro_app.questionnaires.instruments import check_file, instrument_files, load_instruments, wording

FOLDER = Path(__file__).resolve().parent.parent / "questionnaires"
FILES = instrument_files([FOLDER])  # the shipped files only: not local/
LANGS = ("zh-CN", "en")
FORBIDDEN = ["daratumumab", "darzalex", "达雷妥尤单抗", "leukaemia", "leukemia", "白血病", "cd38",
             "pro-ctcae", "eortc", "pedsql", "promis", "eq-5d"]
EXPECTED = {"baseline", "post-infusion", "quality-of-life", "symptom-check", "toddler-check"}
RED_FLAGS = {"breathing", "throat_swelling", "chest_heart", "fainting", "bleeding", "confusion", "vision"}
PROXY_ONLY = {"toddler-check"}  # children under 7: a parent answers what they can see
MAX_ITEMS_PER_SCREEN = 6
# A radio option on a 360-px screen holds about 16 Chinese characters or 32 Latin ones on a line.
MAX_LABEL_WIDTH = 32


def _width(text):
    """Display width: 2 for a Chinese (wide or full-width) character, 1 for anything else."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _load(instrument_id):
    return {i.id: i for i in (check_file(p)[0] for p in FILES)}[instrument_id]


def _strings(node):
    """Every string anywhere in a loaded YAML document (keys included)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def _wordings(node, where="$"):
    """Every wording (a {zh-CN, en} text, possibly under self/proxy) with where it sits."""
    if isinstance(node, dict):
        if set(node) & {"zh-CN", "en"}:
            yield where, node
            return
        for key, value in node.items():
            yield from _wordings(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _wordings(value, f"{where}[{i}]")


def test_the_expected_instruments_are_shipped():
    assert FILES, f"no instrument files in {FOLDER}"
    assert {check_file(p)[0].id for p in FILES} >= EXPECTED


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_file_passes_check_with_no_errors(path):
    instrument, errors = check_file(path)
    assert errors == [], "\n".join(map(str, errors))
    assert instrument.items()


def test_instrument_ids_are_unique():
    ids = [check_file(p)[0].id for p in FILES]
    assert len(ids) == len(set(ids))
    assert set(load_instruments([FOLDER])) == set(ids)  # raises on a duplicate


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_wording_has_both_languages(path):
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    found = list(_wordings(data))
    assert found
    for where, text in found:
        for lang in LANGS:
            assert isinstance(text.get(lang), str) and text[lang].strip(), f"{path.name} {where}: no {lang}"
    instrument = check_file(path)[0]
    for item in instrument.items():
        for respondent in instrument.respondents:
            for lang in LANGS:
                assert wording(item.text, respondent, lang).strip(), (item.id, respondent, lang)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_question_has_its_own_caregiver_wording(path):
    instrument = check_file(path)[0]
    if instrument.id in PROXY_ONLY:
        assert instrument.respondents == ("proxy",)
        for item in instrument.items():
            assert "孩子" in item.text["zh-CN"] and "child" in item.text["en"], item.id
        return
    assert set(instrument.respondents) == {"self", "proxy"}
    for item in instrument.items():
        assert set(item.text) == {"self", "proxy"}, f"{item.id}: one wording for patient and caregiver"
        assert any(item.text["self"][lang] != item.text["proxy"][lang] for lang in LANGS), item.id
    sample = instrument.items()[0]
    assert "孩子" in wording(sample.text, "proxy", "zh-CN")
    assert "child" in wording(sample.text, "proxy", "en")


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_forbidden_words(path):
    text = path.read_text(encoding="utf-8")
    strings = list(_strings(yaml.safe_load(text))) + [text]  # the raw text covers comments too
    for s in strings:
        lowered = s.lower()
        for word in FORBIDDEN:
            assert word.lower() not in lowered, f"{path.name}: {word!r} in {s[:80]!r}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_screens_and_answer_labels_stay_small(path):
    instrument = check_file(path)[0]
    for section in instrument.sections:
        assert len(section.items) <= MAX_ITEMS_PER_SCREEN, section.id
    for item in instrument.items():
        for _value, label in item.choices:
            for respondent in ("self", "proxy"):
                for lang in LANGS:
                    text = wording(label, respondent, lang)
                    assert _width(text) <= MAX_LABEL_WIDTH, (item.id, text)


@pytest.mark.parametrize("instrument_id", ["post-infusion", "symptom-check", "toddler-check"])
def test_fever_with_its_route_and_warning_signs_asked_now_or_earlier(instrument_id):
    instrument = _load(instrument_id)
    fever = [a for a in instrument.alerts if a.when is not None and a.when.gte == 38.0]
    assert len(fever) == 1 and fever[0].severity == "red"
    temperature = instrument.item(fever[0].when.item)
    assert temperature.type == "number" and temperature.unit == "temperature"
    assert not temperature.required
    route = instrument.item("temperature_route")
    assert {label["en"] for _v, label in route.choices} >= {"Armpit", "Ear", "Mouth"}
    assert route.show_if.item == "temperature"
    signs = RED_FLAGS if instrument_id != "toddler-check" else {"breathing", "drooling", "bleeding"}
    rules = {(a.when.item, a.when.values): a.severity for a in instrument.alerts if a.when is not None}
    for item_id in signs:
        item = instrument.item(item_id)
        assert [v for v, _label in item.choices] == [0, 1, 2], item_id
        assert dict(item.choices)[2]["en"] == "Yes, now"
        assert rules[(item_id, (2,))] == "red" and rules[(item_id, (1,))] == "amber", item_id
        assert (item_id, (0,)) not in rules


@pytest.mark.parametrize("instrument_id", ["post-infusion", "symptom-check"])
def test_severe_and_very_severe_are_amber_except_vomiting_and_diarrhoea(instrument_id):
    instrument = _load(instrument_id)
    severity_items = [i.id for i in instrument.items() if i.id.endswith("_severity")]
    assert len(severity_items) >= 5
    fired = {}
    for a in instrument.alerts:
        if a.when is not None and a.when.item in severity_items:
            for value in a.when.values:
                fired[(a.when.item, value)] = a.severity
    red_at_4 = {"vomiting_severity", "diarrhoea_severity"}
    if instrument_id == "post-infusion":
        red_at_4.add("nausea_severity")  # one question there for feeling sick and vomiting
    for item_id in severity_items:
        assert instrument.item(item_id).show_if is not None, item_id
        assert dict(instrument.item(item_id).choices)[3]["en"] == "Severe"
        assert dict(instrument.item(item_id).choices)[4]["en"] == "Very severe"
        assert fired[(item_id, 3)] == "amber", item_id
        assert fired[(item_id, 4)] == ("red" if item_id in red_at_4 else "amber"), item_id
        assert (item_id, 2) not in fired and (item_id, 1) not in fired


def test_symptom_check_worsening_alerts_cover_every_severity_item():
    instrument = _load("symptom-check")
    severity_items = {i.id for i in instrument.items() if i.id.endswith("_severity")}
    assert len(severity_items) == 14
    severity_items = {f"{s}_severity" for s in ("tired", "appetite", "nausea", "vomiting", "diarrhoea",
                                                  "mouth_sores", "pain", "cough")}
    worsening = [a for a in instrument.alerts if a.worsening]
    assert all(a.severity == "amber" and a.worsening["by"] == 2 for a in worsening)
    assert {i for a in worsening for i in a.worsening["items"]} == severity_items


def test_symptom_check_asks_severity_only_when_the_symptom_happened():
    instrument = _load("symptom-check")
    severity = instrument.item("pain_severity")
    assert not visible(severity, {"pain_frequency": 0})
    assert visible(severity, {"pain_frequency": 1})
    assert not visible(instrument.item("pain_interference"), {"pain_frequency": 0})
    none = {i.id: 0 for i in instrument.items() if i.id.endswith("_frequency")}
    assert scores(instrument, none) == {"symptom_frequency": 0.0, "symptom_severity": None}


def test_post_infusion_asks_how_bad_only_after_a_yes():
    instrument = _load("post-infusion")
    for symptom in ("chills", "rash", "cough", "headache", "nausea"):
        severity = instrument.item(f"{symptom}_severity")
        assert not visible(severity, {symptom: False})
        assert visible(severity, {symptom: True})
    note = instrument.item("anything_else")
    assert note.type == "text" and not note.required and note.max_length == 500


def test_quality_of_life_alerts_on_domain_scores_only():
    instrument = _load("quality-of-life")
    by_id = {s.id: s for s in instrument.scores}
    assert by_id["global"].method == "linear" and by_id["global"].higher_is_better
    drops = {a.score_drop["score"]: a for a in instrument.alerts if a.score_drop}
    assert set(drops) == {"physical", "emotional", "school", "social"}  # not the single-item overall rating
    for score_id, rule in drops.items():
        assert rule.severity == "amber" and rule.score_drop["by"] == 10
        assert len(by_id[score_id].items) >= 4 and by_id[score_id].method == "linear"
    low_mood = [a for a in instrument.alerts if a.when is not None and a.when.item == "low_mood"]
    assert [(a.severity, a.when.values) for a in low_mood] == [("amber", (0, 1))]
    assert 12 <= len(instrument.items()) <= 18


def test_quality_of_life_scores_put_the_best_answers_at_100():
    """Every answer list is coded best-highest, so 100 means the best answers (see the file)."""
    instrument = _load("quality-of-life")
    best = {i.id: (max(v for v, _ in i.choices) if i.choices else 10) for i in instrument.items()}
    worst = {i.id: (min(v for v, _ in i.choices) if i.choices else 0) for i in instrument.items()}
    # The best answer is the one listed first for "how hard/how much" lists, e.g. "Not hard" = 4.
    assert dict(instrument.item("walking").choices)[4]["en"] == "Not hard"
    assert dict(instrument.item("worried").choices)[4]["en"] == "Never"
    assert dict(instrument.item("good_mood").choices)[4]["en"] == "Most of the time"
    assert scores(instrument, best) == {"physical": 100.0, "emotional": 100.0, "school": 100.0, "social": 100.0,
                                        "global": 100.0}
    assert scores(instrument, worst) == {"physical": 0.0, "emotional": 0.0, "school": 0.0, "social": 0.0,
                                         "global": 0.0}
    assert scores(instrument, {"overall_life": 7})["global"] == 70.0


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_alert_rule_has_a_label_a_nurse_can_read(path):
    """The worklist names a rule by its label ("Fever 38.0 °C or higher"), never by its id."""
    instrument = check_file(path)[0]
    for rule in instrument.alerts:
        assert rule.label is not None, f"{path.name}: rule {rule.id!r} has no label"
        for lang in LANGS:
            assert rule.label[lang].strip() and rule.label[lang] != rule.id, (rule.id, lang)
    labels = [rule.label["en"] for rule in instrument.alerts]
    assert len(labels) == len(set(labels)), f"{path.name}: two rules share a label"
