"""Answers: reading a submitted form, branching, completeness and scores (pure)."""

import math
from datetime import date

from flask_babel import lazy_gettext as _l

MAX_TEXT = 2000


def visible(item, answers):
    """Tell whether an item is shown, given the answers so far."""
    return item.show_if is None or item.show_if.holds(answers)


def visible_items(instrument, answers):
    """Return the items shown for these answers, in order."""
    return [item for item in instrument.items() if visible(item, answers)]


def celsius(value, unit):
    """Convert a temperature to °C."""
    return (value - 32) * 5 / 9 if unit == "F" else value


def _number(text, item, form):
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise ValueError(_l("Enter a number.")) from None
    if not math.isfinite(value):
        raise ValueError(_l("Enter a number."))
    unit = ""
    if item.unit == "temperature":
        unit = form.get(f"{item.id}__unit", "C")
        if unit not in ("C", "F"):
            raise ValueError(_l("Choose °C or °F."))
        value = celsius(value, unit)
    low, high = item.min, item.max
    if not low - 1e-9 <= value <= high + 1e-9:
        if item.unit == "temperature" and unit == "F":
            low, high = low * 9 / 5 + 32, high * 9 / 5 + 32
            return _out_of_range(low, high, "°F")
        return _out_of_range(low, high, "°C" if item.unit == "temperature" else "")
    return round(value, max(item.decimals, 1) if item.unit == "temperature" else item.decimals)


def _out_of_range(low, high, unit):
    raise ValueError(_l("Enter a number from %(low)s to %(high)s%(unit)s.",
                        low=f"{low:g}", high=f"{high:g}", unit=unit))


def _choice(text, item):
    try:
        value = int(text)
    except ValueError:
        raise ValueError(_l("Choose one of the answers.")) from None
    if value not in {v for v, _label in item.choices}:
        raise ValueError(_l("Choose one of the answers."))
    return value


def parse_item(item, form):
    """Read one item's answer from a form; None when left empty; ValueError with a reason."""
    if item.type == "multiple":
        raw = form.getlist(item.id) if hasattr(form, "getlist") else form.get(item.id) or []
        raw = [raw] if isinstance(raw, str) else raw
        if not raw:
            return None
        values = sorted({_choice(str(r), item) for r in raw})
        return values
    text = form.get(item.id)
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    if not isinstance(text, str):
        raise ValueError(_l("Choose one of the answers."))
    text = text.strip()
    if item.type == "single":
        return _choice(text, item)
    if item.type == "yesno":
        if text not in ("yes", "no"):
            raise ValueError(_l("Choose yes or no."))
        return text == "yes"
    if item.type == "rating":
        value = _choice_in_range(text, item)
        return value
    if item.type == "number":
        return _number(text, item, form)
    if item.type == "date":
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise ValueError(_l("Enter a date like 2026-03-01.")) from None
        if not date(1900, 1, 1) <= value <= date(2100, 1, 1):
            raise ValueError(_l("Enter a date like 2026-03-01."))
        return value.isoformat()
    # No keyboard types U+0000 and PostgreSQL's JSON cannot store it: drop it from free text.
    text = text.replace("\x00", "").strip()
    if not text:
        return None
    if len(text) > min(item.max_length, MAX_TEXT):
        raise ValueError(_l("Please keep this under %(n)d characters.", n=min(item.max_length, MAX_TEXT)))
    return text


def _choice_in_range(text, item):
    try:
        value = int(text)
    except ValueError:
        raise ValueError(_l("Choose a number from %(low)d to %(high)d.", low=int(item.min), high=int(item.max))) \
            from None
    if not item.min <= value <= item.max:
        raise ValueError(_l("Choose a number from %(low)d to %(high)d.", low=int(item.min), high=int(item.max)))
    return value


def read_section(section, form, answers):
    """Read a section's answers on top of earlier ones; return (answers, {item id: error})."""
    merged = dict(answers)
    errors = {}
    for item in section.items:
        merged.pop(item.id, None)
    for item in section.items:
        if not visible(item, merged):
            continue
        try:
            value = parse_item(item, form)
        except ValueError as exc:
            errors[item.id] = exc.args[0]
            continue
        if value is None:
            if item.required:
                errors[item.id] = _l("Please answer this question.")
            continue
        merged[item.id] = value
    return merged, errors


def prune(instrument, answers):
    """Drop answers to items that are hidden by later changes, and unknown keys."""
    kept = {}
    for item in instrument.items():
        if item.id in answers and visible(item, kept):
            kept[item.id] = answers[item.id]
    return kept


def missing_required(instrument, answers):
    """Return the ids of shown, required items without an answer."""
    return [i.id for i in visible_items(instrument, answers) if i.required and answers.get(i.id) is None]


def _numeric(value):
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def score(rule, answers):
    """Compute one score, or None when too few of its items were answered."""
    values = [v for v in (_numeric(answers.get(i)) for i in rule.items) if v is not None]
    needed = math.ceil(len(rule.items) / 2) if rule.min_answered == "half" else rule.min_answered
    if not values or len(values) < needed:
        return None
    if rule.method == "sum":
        # Scale a partial sum up to all items, as the half-items rule intends.
        return round(sum(values) * len(rule.items) / len(values), 2)
    mean = sum(values) / len(values)
    if rule.method == "mean":
        return round(mean, 2)
    low, high = rule.range
    linear = (mean - low) / (high - low) * 100
    return round(100 - linear if rule.reverse else linear, 1)


def scores(instrument, answers):
    """Compute every score of an instrument: {score id: value or None}."""
    return {rule.id: score(rule, answers) for rule in instrument.scores}
