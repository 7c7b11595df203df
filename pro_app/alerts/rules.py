"""Alert rules: what in a response (or around it) a nurse must look at. Pure functions, no clock."""

import math
from dataclasses import dataclass, field

from pro_app.questionnaires.instruments import Condition

SEVERITIES = ("red", "amber")
MISSED = "missed-questionnaires"
UNREACHABLE = "unreachable-contact"
UNREACHABLE_REASONS = ("opted out", "unreachable")
#: Wording of the rules the app itself raises (instrument rules carry their own).
LABELS = {
    MISSED: {"zh-CN": "连续两次未完成问卷", "en": "Two questionnaires in a row not answered"},
    "opted out": {"zh-CN": "联系人已退订短信，无法再发短信联系", "en": "A contact opted out of texts"},
    "unreachable": {"zh-CN": "联系人手机号无法接收短信", "en": "A contact's number cannot receive texts"},
}
_EPSILON = 1e-9  # score differences are rounded floats: 75 - 65.0 must count as 10


@dataclass(frozen=True)
class Finding:
    rule: str  # "<instrument id>:<alert id>", MISSED or UNREACHABLE
    severity: str  # "red" or "amber"
    detail: dict  # JSON-able facts for the nurse; never a free-text answer
    #: The rule's wording for staff, {language: text}, or None (then the rule id is shown).
    label: dict | None = field(default=None, compare=False)


def _number(value):
    """Return value if it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value


def _whole(value):
    """Tell whether value is an int answer (a choice or a rating), not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def _holds(condition, answers):
    """Tell whether a condition holds, treating answers it cannot compare as not meeting it."""
    try:
        return bool(condition.holds(answers))
    except (TypeError, ValueError):
        return False


def _fits(item, value):
    """Tell whether a stored answer has the shape its item type gives (int, bool, float, list, str)."""
    if item.type in ("single", "rating"):
        return _whole(value)
    if item.type == "yesno":
        return isinstance(value, bool)
    if item.type == "number":
        return _number(value) is not None
    if item.type == "multiple":
        return isinstance(value, list) and all(_whole(v) for v in value)
    return isinstance(value, str)


def _shown(instrument, answers):
    """Keep the well-formed answers to items that are shown, in form order (a safe prune)."""
    kept = {}
    for item in instrument.items():
        value = answers.get(item.id)
        if _fits(item, value) and (item.show_if is None or _holds(item.show_if, kept)):
            kept[item.id] = value
    return kept


def _threshold(instrument, condition, fever_celsius):
    """Return the condition to test, with the site's fever threshold for temperature items."""
    item = instrument.item(condition.item)
    if (fever_celsius is not None and condition.gte is not None and item is not None
            and item.type == "number" and item.unit == "temperature"):
        return Condition(condition.item, gte=float(fever_celsius))
    return condition


def _when(instrument, rule, answers, fever_celsius):
    """Return the detail of a threshold rule that fires, or None."""
    condition = _threshold(instrument, rule.when, fever_celsius)
    if not _holds(condition, answers):
        return None
    detail = {"item": condition.item}
    item = instrument.item(condition.item)
    if item is None or item.type != "text":
        detail["value"] = answers.get(condition.item)
    if condition.gte is not None:
        detail["threshold"] = condition.gte
    else:
        detail["values"] = list(condition.values)
    return detail


def _red_flags(instrument, answers):
    """Return the detail when a shown red-flag item is answered yes, or None."""
    items = [i.id for i in instrument.items() if i.red_flag and answers.get(i.id) is True]
    return {"items": items} if items else None


def _worsening(spec, answers, previous, baseline):
    """Return the detail when listed items got worse by the given steps, or None."""
    by = _number(spec.get("by"))
    if by is None:
        return None
    worse = []
    for item_id in spec.get("items") or ():
        now = _number(answers.get(item_id))
        if now is None:
            continue
        before = {"previous": _number(previous.get(item_id)), "baseline": _number(baseline.get(item_id))}
        fired = [name for name, value in before.items() if value is not None and now - value >= by - _EPSILON]
        if fired:
            worse.append({"item": item_id, "now": now, **before, "compared_with": fired})
    return {"items": worse, "by": by} if worse else None


def _score_drop(instrument, spec, scores, baseline_scores):
    """Return the detail when a score got worse than at baseline by the given points, or None."""
    score_id, by = spec.get("score"), _number(spec.get("by"))
    definition = next((s for s in instrument.scores if s.id == score_id), None)
    now, base = _number(scores.get(score_id)), _number(baseline_scores.get(score_id))
    if definition is None or by is None or now is None or base is None:
        return None
    worse_by = base - now if definition.higher_is_better else now - base
    if worse_by < by - _EPSILON:
        return None
    return {"score": score_id, "now": now, "baseline": base, "worse_by": round(worse_by, 2), "by": by,
            "higher_is_better": definition.higher_is_better}


def _mapping(value):
    """Return value if it is a dict, else an empty one."""
    return value if isinstance(value, dict) else {}


def evaluate(instrument, answers, scores, *, previous=None, baseline=None, previous_scores=None,
             baseline_scores=None, fever_celsius=None):
    """Apply an instrument's alert rules to one response and return the findings, in rule order."""
    # previous_scores is accepted for callers' symmetry; the spec compares scores with baseline only.
    answers = _shown(instrument, _mapping(answers))
    scores, previous, baseline = _mapping(scores), _mapping(previous), _mapping(baseline)
    baseline_scores = _mapping(baseline_scores)
    findings = []
    for rule in instrument.alerts:
        if rule.when is not None:
            detail = _when(instrument, rule, answers, fever_celsius)
        elif rule.any_red_flag:
            detail = _red_flags(instrument, answers)
        elif rule.worsening is not None:
            detail = _worsening(rule.worsening, answers, previous, baseline)
        elif rule.score_drop is not None:
            detail = _score_drop(instrument, rule.score_drop, scores, baseline_scores)
        else:
            detail = None
        if detail is not None:
            findings.append(Finding(f"{instrument.id}:{rule.id}", rule.severity, detail, rule.label))
    return findings


def worst(findings):
    """Return the most urgent severity among findings: "red", "amber" or None."""
    return most_urgent(f.severity for f in findings)


def most_urgent(severities):
    """Return the most urgent of some severities: "red", "amber" or None."""
    found = set(severities)
    return next((s for s in SEVERITIES if s in found), None)


def missed_in_a_row(states, n=2):
    """Tell whether the last n closed assignments (oldest first) all expired unanswered."""
    if n < 1:
        raise ValueError("n must be at least 1")
    states = list(states)
    return len(states) >= n and all(s == "expired" for s in states[-n:])


def missed_finding(instrument_id, count):
    """Return the finding for questionnaires missed in a row."""
    return Finding(MISSED, "amber", {"instrument": instrument_id, "missed_in_a_row": count}, LABELS[MISSED])


def unreachable_finding(reason, error_code=None):
    """Return the finding for a participant the study can no longer text."""
    if reason not in UNREACHABLE_REASONS:
        raise ValueError(f"reason must be one of {UNREACHABLE_REASONS}, not {reason!r}")
    return Finding(UNREACHABLE, "amber", {"reason": reason, "error_code": error_code}, LABELS[reason])
