"""The codebook: every item and score of every instrument version, in both languages (pure)."""

from pro_app.exports.responses import choices_of, unit_of
from pro_app.questionnaires.instruments import wording

CODEBOOK_COLUMNS = (
    "instrument_id", "instrument_version", "title_en", "section_id", "order", "variable", "kind", "type",
    "text_zh_self", "text_en_self", "text_zh_proxy", "text_en_proxy", "required", "codes", "labels_en",
    "labels_zh", "unit", "min", "max", "decimals", "shown_if", "red_flag", "scores", "alert_rules", "scoring",
)


def _texts(text):
    """Return (zh self, en self, zh proxy, en proxy) of a wording that may differ for a caregiver."""
    return tuple(wording(text, respondent, lang) for respondent in ("self", "proxy") for lang in ("zh-CN", "en"))


def condition_text(condition):
    """Write a branching or alert condition as a reader would: 'chills in [True]', 'tired_frequency >= 1'."""
    if condition is None:
        return ""
    if condition.gte is not None:
        return f"{condition.item} >= {condition.gte:g}"
    values = ", ".join("yes" if v is True else "no" if v is False else str(v) for v in condition.values)
    return f"{condition.item} in [{values}]"


def _alerts_on(instrument, item):
    out = []
    for rule in instrument.alerts:
        if rule.when is not None and rule.when.item == item.id:
            out.append(f"{rule.id} ({rule.severity}: {condition_text(rule.when)})")
        elif rule.any_red_flag and item.red_flag:
            out.append(f"{rule.id} ({rule.severity}: yes)")
        elif rule.worsening and item.id in rule.worsening.get("items", ()):
            out.append(f"{rule.id} ({rule.severity}: worse by {rule.worsening.get('by')})")
    return "; ".join(out)


def scoring_text(score):
    """Describe a score's method the way a statistical analysis plan would."""
    text = f"{score.method} of {', '.join(score.items)}"
    if score.range:
        text += f"; answers {score.range[0]:g}-{score.range[1]:g} mapped to 0-100"
        if score.reverse:
            text += " (reversed: the low end is 100)"
    need = "half the items" if score.min_answered == "half" else f"{score.min_answered} items"
    better = "higher is better" if score.higher_is_better else "higher is worse"
    return f"{text}; needs at least {need}; {better}"


def codebook_rows(instrument):
    """Yield a row for each item, then each score, of one instrument version."""
    base = {"instrument_id": instrument.id, "instrument_version": instrument.version,
            "title_en": instrument.title["en"]}
    order = 0
    for section in instrument.sections:
        for item in section.items:
            order += 1
            zh_self, en_self, zh_proxy, en_proxy = _texts(item.text)
            choices = choices_of(item)
            codes = "; ".join(str(v) for v, _label in choices)
            en = "; ".join(label["en"] for _v, label in choices)
            zh = "; ".join(label["zh-CN"] for _v, label in choices)
            yield base | {
                "section_id": section.id, "order": order, "variable": item.id, "kind": "item", "type": item.type,
                "text_zh_self": zh_self, "text_en_self": en_self, "text_zh_proxy": zh_proxy,
                "text_en_proxy": en_proxy, "required": int(item.required), "codes": codes, "labels_en": en,
                "labels_zh": zh, "unit": unit_of(item), "min": item.min, "max": item.max,
                "decimals": item.decimals if item.type == "number" else None,
                "shown_if": condition_text(item.show_if), "red_flag": int(item.red_flag),
                "scores": "; ".join(s.id for s in instrument.scores if item.id in s.items),
                "alert_rules": _alerts_on(instrument, item), "scoring": "",
            }
    for score in instrument.scores:
        order += 1
        yield base | {
            "section_id": "", "order": order, "variable": f"score_{score.id}", "kind": "score", "type": "number",
            "text_zh_self": score.label["zh-CN"], "text_en_self": score.label["en"],
            "text_zh_proxy": score.label["zh-CN"], "text_en_proxy": score.label["en"], "required": 0, "codes": "",
            "labels_en": "", "labels_zh": "", "unit": "", "min": 0 if score.method == "linear" else None,
            "max": 100 if score.method == "linear" else None, "decimals": None, "shown_if": "", "red_flag": 0,
            "scores": "", "alert_rules": "; ".join(r.id for r in instrument.alerts
                                                   if r.score_drop and r.score_drop.get("score") == score.id),
            "scoring": scoring_text(score),
        }
