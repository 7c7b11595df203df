"""Instruments as data: loading, checking and the typed, immutable form the app uses."""

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from pro_app.datafiles import DataFileError, LocatedYaml, schema_errors
from pro_app.questionnaires.schema import ITEM_TYPES, SCHEMA

SCORABLE = {"single", "rating", "yesno", "number"}
RATING_RANGE = (0, 10)


class InstrumentError(DataFileError):
    """An instrument file that cannot be used."""


@dataclass(frozen=True)
class Condition:
    item: str
    values: tuple = ()
    gte: float | None = None

    def holds(self, answers):
        """Tell whether the answers meet this condition (a missing answer never does)."""
        value = answers.get(self.item)
        if value is None:
            return False
        if self.gte is not None:
            if isinstance(value, list):
                return any(v >= self.gte for v in value)
            return not isinstance(value, bool | str) and value >= self.gte
        if isinstance(value, list):
            return any(v in self.values for v in value)
        return value in self.values


@dataclass(frozen=True)
class Item:
    id: str
    type: str
    text: dict
    hint: dict | None = None
    required: bool = True
    choices: tuple = ()  # ((value, label wording), ...)
    unit: object = None  # "temperature", a wording, or None
    min: float | None = None
    max: float | None = None
    decimals: int = 0
    max_length: int = 500
    show_if: Condition | None = None
    red_flag: bool = False


@dataclass(frozen=True)
class Section:
    id: str
    title: dict
    items: tuple
    intro: dict | None = None


@dataclass(frozen=True)
class Score:
    id: str
    label: dict
    method: str
    items: tuple
    range: tuple | None = None
    higher_is_better: bool = False
    min_answered: object = "half"
    reverse: bool = False


@dataclass(frozen=True)
class AlertRule:
    id: str
    severity: str
    label: dict | None = None
    when: Condition | None = None
    any_red_flag: bool = False
    worsening: dict | None = None
    score_drop: dict | None = None


@dataclass(frozen=True)
class Instrument:
    id: str
    version: str
    title: dict
    respondents: tuple
    sections: tuple
    intro: dict | None = None
    scores: tuple = ()
    alerts: tuple = ()
    definition: dict = field(default_factory=dict, compare=False, repr=False)
    source: str = ""

    def items(self):
        return [item for section in self.sections for item in section.items]

    def item(self, item_id):
        return next((i for i in self.items() if i.id == item_id), None)


def wording(text, respondent, lang):
    """Pick the text for a respondent ('self' or 'proxy') and a language."""
    if text is None:
        return ""
    if "self" in text:
        text = text["proxy" if respondent == "proxy" else "self"]
    return text[lang]


def _condition(raw):
    if raw is None:
        return None
    if "gte" in raw:
        return Condition(raw["item"], gte=float(raw["gte"]))
    values = raw["in"] if "in" in raw else [raw["equals"]]
    return Condition(raw["item"], values=tuple(values))


def build(definition, version, source=""):
    """Turn a checked definition (a dict) into an Instrument."""
    shared = definition.get("choices", {})
    sections = []
    for s in definition["sections"]:
        items = []
        for raw in s["items"]:
            choices = raw.get("choices")
            if isinstance(choices, str):
                choices = shared[choices]
            if raw["type"] == "yesno":
                choices = None
            items.append(Item(
                id=raw["id"], type=raw["type"], text=raw["text"], hint=raw.get("hint"),
                required=raw.get("required", True),
                choices=tuple((c["value"], c["label"]) for c in choices or ()),
                unit=raw.get("unit"),
                min=raw.get("min", RATING_RANGE[0] if raw["type"] == "rating" else None),
                max=raw.get("max", RATING_RANGE[1] if raw["type"] == "rating" else None),
                decimals=raw.get("decimals", 0), max_length=raw.get("max_length", 500),
                show_if=_condition(raw.get("show_if")), red_flag=raw.get("red_flag", False),
            ))
        sections.append(Section(s["id"], s["title"], tuple(items), s.get("intro")))
    scores = tuple(
        Score(sc["id"], sc["label"], sc["method"], tuple(sc["items"]),
              tuple(sc["range"]) if "range" in sc else None, sc.get("higher_is_better", False),
              sc.get("min_answered", "half"), sc.get("reverse", False))
        for sc in definition.get("scores", [])
    )
    alerts = tuple(
        AlertRule(a["id"], a["severity"], a.get("label"), _condition(a.get("when")),
                  a.get("any_red_flag", False), a.get("worsening"), a.get("score_drop"))
        for a in definition.get("alerts", [])
    )
    return Instrument(
        id=definition["id"], version=version, title=definition["title"],
        respondents=tuple(definition["respondents"]), sections=tuple(sections),
        intro=definition.get("intro"), scores=scores, alerts=alerts, definition=definition, source=source,
    )


def content_hash(definition):
    """Version an instrument by its content: any change makes a new version."""
    canonical = json.dumps(definition, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_file(path):
    """Load one instrument file; return (Instrument or None, [InstrumentError, ...])."""
    try:
        doc = LocatedYaml(path)
    except DataFileError as exc:
        return None, [InstrumentError(exc.path, exc.line, exc.where, exc.reason)]
    errors = [InstrumentError(e.path, e.line, e.where, e.reason) for e in schema_errors(doc, SCHEMA)]
    if not errors:
        errors = [InstrumentError(e.path, e.line, e.where, e.reason) for e in _semantic_errors(doc)]
    if errors:
        return None, errors
    return build(doc.data, content_hash(doc.data), str(path)), []


def _semantic_errors(doc):
    data = doc.data
    shared = data.get("choices", {})
    seen = {}
    order = []
    for si, section in enumerate(data["sections"]):
        for ii, item in enumerate(section["items"]):
            where = ["sections", si, "items", ii]
            name = item["id"]
            if name in seen:
                yield doc.error(where + ["id"], f"item {name!r}: duplicate id (also at {seen[name][1]})")
                continue
            seen[name] = (item, ".".join(map(str, where)))
            order.append(name)
            yield from _item_errors(doc, where, item, shared, seen)
    section_ids = [s["id"] for s in data["sections"]]
    for si, sid in enumerate(section_ids):
        if section_ids.index(sid) != si:
            yield doc.error(["sections", si, "id"], f"section {sid!r}: duplicate id")
    values_of = {name: _values(item, shared) for name, (item, _w) in seen.items()}
    for ki, score in enumerate(data.get("scores", [])):
        for name in score["items"]:
            if name not in seen:
                yield doc.error(["scores", ki, "items"], f"score {score['id']!r}: no item {name!r}")
            elif seen[name][0]["type"] not in SCORABLE:
                yield doc.error(["scores", ki, "items"],
                                f"score {score['id']!r}: item {name!r} ({seen[name][0]['type']}) has no number")
        if score["method"] == "linear" and "range" not in score:
            yield doc.error(["scores", ki], f"score {score['id']!r}: a linear score needs range [min, max]")
        if "range" in score and score["range"][0] >= score["range"][1]:
            yield doc.error(["scores", ki, "range"], f"score {score['id']!r}: range must go from low to high")
    score_ids = [s["id"] for s in data.get("scores", [])]
    for ai, alert in enumerate(data.get("alerts", [])):
        kinds = [k for k in ("when", "any_red_flag", "worsening", "score_drop") if k in alert]
        if len(kinds) != 1:
            yield doc.error(["alerts", ai], f"alert {alert['id']!r}: give exactly one of when, any_red_flag, "
                                            "worsening, score_drop")
            continue
        if "when" in alert:
            yield from _condition_errors(doc, ["alerts", ai, "when"], alert["when"], seen, values_of,
                                         f"alert {alert['id']!r}")
            target = seen.get(alert["when"]["item"])
            if target is not None and target[0]["type"] in ("text", "date"):
                # Free text is read by a person, never matched by a rule (and never put in a text).
                yield doc.error(["alerts", ai, "when"], f"alert {alert['id']!r}: a rule cannot test a "
                                                        f"{target[0]['type']} item")
        for name in alert.get("worsening", {}).get("items", []):
            if name not in seen:
                yield doc.error(["alerts", ai, "worsening"], f"alert {alert['id']!r}: no item {name!r}")
        if "score_drop" in alert and alert["score_drop"]["score"] not in score_ids:
            yield doc.error(["alerts", ai, "score_drop"],
                            f"alert {alert['id']!r}: no score {alert['score_drop']['score']!r}")


def _values(item, shared):
    if item["type"] == "yesno":
        return {True, False}
    choices = item.get("choices")
    if isinstance(choices, str):
        choices = shared.get(choices, [])
    if item["type"] in ("single", "multiple"):
        return {c["value"] for c in choices or []}
    if item["type"] == "rating":
        return set(range(0, 11))
    return None


def _item_errors(doc, where, item, shared, seen):
    name, kind = item["id"], item["type"]
    label = f"item {name!r}"
    if kind not in ITEM_TYPES:
        yield doc.error(where + ["type"], f"{label}: bad item type {kind!r} (use one of {', '.join(ITEM_TYPES)})")
        return
    choices = item.get("choices")
    if kind in ("single", "multiple"):
        if choices is None:
            yield doc.error(where, f"{label}: a {kind} item needs choices")
        elif isinstance(choices, str) and choices not in shared:
            yield doc.error(where + ["choices"], f"{label}: no choice list named {choices!r}")
        else:
            values = [c["value"] for c in (shared[choices] if isinstance(choices, str) else choices)]
            if len(set(values)) != len(values):
                yield doc.error(where + ["choices"], f"{label}: two choices share a value")
    elif choices is not None:
        yield doc.error(where + ["choices"], f"{label}: a {kind} item takes no choices")
    if kind == "number":
        if "min" not in item or "max" not in item:
            yield doc.error(where, f"{label}: a number item needs min and max")
        elif item["min"] >= item["max"]:
            yield doc.error(where + ["min"], f"{label}: min must be below max")
    elif "unit" in item:
        yield doc.error(where + ["unit"], f"{label}: only number items have a unit")
    if item.get("red_flag") and kind != "yesno":
        yield doc.error(where + ["red_flag"], f"{label}: only yes/no items can be red flags")
    if "show_if" in item:
        earlier = {k: v for k, v in seen.items() if k != name}
        yield from _condition_errors(doc, where + ["show_if"], item["show_if"], earlier,
                                     {k: _values(v[0], shared) for k, v in earlier.items()}, label)


def _condition_errors(doc, where, cond, seen, values_of, label):
    target = cond["item"]
    if target not in seen:
        yield doc.error(where + ["item"], f"{label}: refers to item {target!r}, which does not exist before it")
        return
    allowed = values_of.get(target)
    given = cond.get("in", [cond["equals"]] if "equals" in cond else [])
    if allowed is not None:
        for value in given:
            if value not in allowed:
                yield doc.error(where, f"{label}: {target!r} has no answer {value!r}")


def instrument_files(folders):
    """List the instrument files in the given folders (a site's local folder included)."""
    files = []
    for folder in folders:
        folder = Path(folder)
        if folder.is_dir():
            files.extend(sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml")))
    return files


def load_instruments(folders):
    """Load every instrument, raising the first InstrumentError; ids must be unique."""
    instruments = {}
    for path in instrument_files(folders):
        instrument, errors = check_file(path)
        if errors:
            raise errors[0]
        if instrument.id in instruments:
            raise InstrumentError(str(path), 1, "id", f"instrument id {instrument.id!r} is also used by "
                                                      f"{instruments[instrument.id].source}")
        instruments[instrument.id] = instrument
    return instruments


def from_stored(definition, version):
    """Rebuild an instrument from the definition stored with its version."""
    return build(definition, version)


def dump(instrument):
    """Return the definition to store with a version (plain JSON-able data)."""
    return json.loads(json.dumps(instrument.definition))


