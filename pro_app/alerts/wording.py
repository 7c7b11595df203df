"""How a fired rule reads for staff: its label, and the answers behind it, in the page language."""

import json

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from pro_app.questionnaires.instruments import wording

COMPARED = {"previous": _l("last time"), "baseline": _l("at baseline")}
REASONS = {"opted out": _l("opted out of texts"), "unreachable": _l("number cannot receive texts")}


def rule_name(rule, label, lang):
    """Name a fired rule by its label in the page language (else the other one), or by its id without one."""
    if isinstance(label, dict):
        found = label.get(lang) or next((v for v in label.values() if isinstance(v, str) and v), None)
        if found:
            return found
    return rule


def _question(instrument, item_id, respondent, lang):
    item = instrument.item(item_id) if instrument is not None else None
    return (wording(item.text, respondent, lang) if item is not None else item_id), item


def _answer(item, value, respondent, lang):
    if item is None or value is None:
        return "—" if value is None else str(value)
    if item.type == "yesno":
        return _("Yes") if value is True else _("No")
    if item.type in ("single", "rating", "multiple"):
        names = dict(item.choices)
        picked = value if isinstance(value, list) else [value]
        return "; ".join(wording(names[v], respondent, lang) if v in names else str(v) for v in picked)
    if item.type == "number" and item.unit == "temperature":
        return f"{value} °C"
    return str(value)


def escalation_words(level):
    """Say an alert's escalation level in words: 'first notice', 'escalated twice'."""
    if not level:
        return _("first notice")
    return ngettext("escalated once", "escalated %(num)d times", level)


def fired_items(details):
    """Return the ids of the items whose answers made rules fire, from the occurrences' details."""
    found = set()
    for detail in details:
        if not isinstance(detail, dict):
            continue
        if isinstance(detail.get("item"), str):
            found.add(detail["item"])
        for entry in detail.get("items") or ():
            if isinstance(entry, str):
                found.add(entry)
            elif isinstance(entry, dict) and isinstance(entry.get("item"), str):
                found.add(entry["item"])
    return found


def summary(rows):
    """Join the answers behind a fired rule into one short phrase for the worklist."""
    return "; ".join(answer for _question, answer in rows if answer and not answer.startswith("{"))


def answers_behind(detail, instrument, lang, respondent="self"):
    """Return [(what was asked or measured, the answer)] behind a fired rule, in words where possible."""
    detail = detail if isinstance(detail, dict) else {}
    try:
        if "item" in detail and "value" in detail:
            question, item = _question(instrument, detail["item"], respondent, lang)
            answer = _answer(item, detail["value"], respondent, lang)
            if isinstance(detail.get("threshold"), int | float) and not isinstance(detail["threshold"], bool):
                unit = " °C" if item is not None and item.unit == "temperature" else ""
                answer = _("%(answer)s (threshold %(threshold)s)", answer=answer,
                           threshold=f"{detail['threshold']}{unit}")
            return [(question, answer)]
        if isinstance(detail.get("items"), list) and all(isinstance(i, str) for i in detail["items"]):
            rows = []
            for item_id in detail["items"]:  # red flags answered yes
                question, item = _question(instrument, item_id, respondent, lang)
                rows.append((question, _answer(item, detail.get("values", {}).get(item_id, True)
                                               if isinstance(detail.get("values"), dict) else True,
                                               respondent, lang)))
            return rows
        if isinstance(detail.get("items"), list):  # worsening
            rows = []
            for worse in detail["items"]:
                question, item = _question(instrument, worse.get("item"), respondent, lang)
                before = ", ".join(f"{COMPARED.get(name, name)} {_answer(item, worse.get(name), respondent, lang)}"
                                   for name in worse.get("compared_with", ()))
                rows.append((question, f"{_answer(item, worse.get('now'), respondent, lang)} ({before})"))
            return rows
        if "score" in detail:
            score = next((s for s in instrument.scores if s.id == detail["score"]), None) if instrument else None
            name = wording(score.label, respondent, lang) if score is not None else detail["score"]
            return [(name, _("%(now)s (baseline %(baseline)s)", now=detail.get("now"),
                                baseline=detail.get("baseline")))]
        if "missed_in_a_row" in detail:
            return [(_("Questionnaires missed in a row"), str(detail["missed_in_a_row"]))]
        if "reason" in detail:
            code = f" ({detail['error_code']})" if detail.get("error_code") else ""
            return [(_("Contact"), f"{REASONS.get(detail['reason'], detail['reason'])}{code}")]
    except (AttributeError, KeyError, TypeError, ValueError):
        pass
    return [("", json.dumps(detail, ensure_ascii=False, sort_keys=True))]
