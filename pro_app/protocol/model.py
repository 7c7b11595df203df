"""The study protocol: loaded from a YAML file, validated, then immutable."""

from dataclasses import dataclass
from datetime import time
from functools import cached_property
from pathlib import Path

import phonenumbers

from pro_app.clock import is_zone
from pro_app.datafiles import DataFileError, LocatedYaml, schema_errors
from pro_app.protocol.hotline import Hotline
from pro_app.protocol.hotline import hotline as written_hotline

DEFAULT_FILE = Path(__file__).resolve().parent / "default.yaml"

_WINDOW = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}
_CLOCK = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"}
_MINUTES = {"type": "integer", "minimum": 15, "maximum": 1440}
_PLACE = {
    "type": "object",
    "required": ["zh-CN", "en"],
    "additionalProperties": False,
    "properties": {"zh-CN": {"type": "string", "minLength": 1, "maxLength": 35},
                   "en": {"type": "string", "minLength": 1, "maxLength": 35}},
}
#: A site that does not say when its team answers the phone gets these.
OFFICE_HOURS = {"zh-CN": "周一至周五 8:00–17:00", "en": "Monday to Friday 8:00–17:00"}
_STUDY_DAY = {"type": "integer", "minimum": -60, "maximum": 3650, "not": {"const": 0}}

SCHEMA = {
    "type": "object",
    "required": ["version", "study", "site", "infusions", "marrow_aspirates", "reminders", "questionnaires"],
    "additionalProperties": False,
    "properties": {
        "version": {"const": 1},
        "study": {
            "type": "object",
            "required": ["name", "timezone"],
            "additionalProperties": False,
            "properties": {"name": {"type": "string", "minLength": 1}, "timezone": {"type": "string"}},
        },
        "site": {
            "type": "object",
            "required": ["name", "phone"],
            "additionalProperties": False,
            "properties": {
                "name": {
                    "type": "object",
                    "required": ["zh-CN", "en"],
                    "additionalProperties": False,
                    "properties": {
                        "zh-CN": {"type": "string", "minLength": 1, "maxLength": 20},
                        "en": {"type": "string", "minLength": 1, "maxLength": 30},
                    },
                },
                "phone": {"type": "string"},
                "office_hours": _PLACE,
                "places": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {kind: _PLACE for kind in ("infusion", "marrow", "other")},
                },
            },
        },
        "infusions": {
            "type": "object",
            "required": ["time", "duration_minutes", "phases"],
            "additionalProperties": False,
            "properties": {
                "time": _CLOCK,
                "duration_minutes": {
                    "type": "object",
                    "required": ["first", "second", "later"],
                    "additionalProperties": False,
                    "properties": {"first": _MINUTES, "second": _MINUTES, "later": _MINUTES},
                },
                "phases": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["name", "from_week", "to_week", "every_weeks", "window_days"],
                        "additionalProperties": False,
                        "properties": {
                            "name": {"type": "string", "minLength": 1},
                            "from_week": {"type": "integer", "minimum": 1, "maximum": 520},
                            "to_week": {"type": "integer", "minimum": 1, "maximum": 520},
                            "every_weeks": {"type": "integer", "minimum": 1, "maximum": 52},
                            "window_days": _WINDOW,
                        },
                    },
                },
            },
        },
        "marrow_aspirates": {
            "type": "object",
            "required": ["time", "duration_minutes", "visits"],
            "additionalProperties": False,
            "properties": {
                "time": _CLOCK,
                "duration_minutes": _MINUTES,
                "visits": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["key", "window_days"],
                        "additionalProperties": False,
                        "oneOf": [{"required": ["day"]}, {"required": ["week"]}],
                        "properties": {
                            "key": {"type": "string", "pattern": r"^[a-z0-9-]{1,24}$"},
                            "day": {"type": "integer", "minimum": -365, "maximum": 3650, "not": {"const": 0}},
                            "week": {"type": "integer", "minimum": 1, "maximum": 520},
                            "window_days": _WINDOW,
                        },
                    },
                },
                "repeat": {
                    "type": "object",
                    "required": ["every_weeks", "until_week", "window_days"],
                    "additionalProperties": False,
                    "properties": {
                        "every_weeks": {"type": "integer", "minimum": 1, "maximum": 52},
                        "until_week": {"type": "integer", "minimum": 1, "maximum": 520},
                        "window_days": _WINDOW,
                    },
                },
            },
        },
        "questionnaires": {
            "type": "object",
            "required": ["nudge_hours_before_close", "schedule"],
            "additionalProperties": False,
            "properties": {
                "nudge_hours_before_close": {"type": "integer", "minimum": 1, "maximum": 240},
                "schedule": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["instrument", "occasion"],
                        "additionalProperties": False,
                        "oneOf": [{"required": ["once"]}, {"required": ["repeat"]}, {"required": ["after_infusion"]}],
                        "properties": {
                            "instrument": {"type": "string", "pattern": r"^[a-z][a-z0-9-]{1,39}$"},
                            "occasion": {"type": "string", "pattern": r"^[a-z][a-z0-9-]{1,24}$"},
                            # Only for participants of these age groups (child < 7, adolescent
                            # 7-17, adult); absent means everyone.
                            "age_groups": {"type": "array", "minItems": 1, "uniqueItems": True,
                                           "items": {"enum": ["child", "adolescent", "adult"]}},
                            "once": {
                                "type": "object",
                                "required": ["opens_day", "closes_day"],
                                "additionalProperties": False,
                                "properties": {
                                    "opens_day": _STUDY_DAY,
                                    "closes_day": _STUDY_DAY,
                                    "opens": _CLOCK, "closes": _CLOCK,
                                },
                            },
                            "repeat": {
                                "type": "object",
                                "required": ["from_week", "to_week", "every_weeks", "day", "open_days"],
                                "additionalProperties": False,
                                "properties": {
                                    "from_week": {"type": "integer", "minimum": 1, "maximum": 520},
                                    "to_week": {"type": "integer", "minimum": 1, "maximum": 520},
                                    "every_weeks": {"type": "integer", "minimum": 1, "maximum": 52},
                                    "day": {"type": "integer", "minimum": 1, "maximum": 7},
                                    "open_days": {"type": "integer", "minimum": 1, "maximum": 28},
                                    "opens": _CLOCK, "closes": _CLOCK,
                                },
                            },
                            "after_infusion": {
                                "type": "object",
                                "required": ["open_days"],
                                "additionalProperties": False,
                                "properties": {
                                    "open_days": {"type": "integer", "minimum": 0, "maximum": 7},
                                    "opens": _CLOCK, "closes": _CLOCK,
                                },
                            },
                        },
                    },
                },
            },
        },
        "reminders": {
            "type": "object",
            "required": ["quiet_hours", "visit"],
            "additionalProperties": False,
            "properties": {
                "quiet_hours": {
                    "type": "object",
                    "required": ["start", "end"],
                    "additionalProperties": False,
                    "properties": {"start": _CLOCK, "end": _CLOCK},
                },
                "visit": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["step", "days_before", "time"],
                        "additionalProperties": False,
                        "properties": {
                            "step": {"type": "string", "pattern": r"^[a-z0-9-]{1,12}$"},
                            "days_before": {"type": "integer", "minimum": 0, "maximum": 30},
                            "time": _CLOCK,
                            "during_quiet_hours": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}


class ProtocolError(DataFileError):
    """A protocol file that cannot be used."""


@dataclass(frozen=True)
class InfusionPhase:
    name: str
    from_week: int
    to_week: int
    every_weeks: int
    window_before: int
    window_after: int


@dataclass(frozen=True)
class MarrowVisit:
    key: str
    day: int
    window_before: int
    window_after: int


@dataclass(frozen=True)
class ReminderStep:
    step: str
    days_before: int
    time: time
    during_quiet_hours: bool = False


@dataclass(frozen=True)
class QuestionnaireEntry:
    """One line of the questionnaire schedule: an instrument on one kind of occasion."""

    instrument: str
    occasion: str
    kind: str  # once, repeat or after_infusion
    opens_day: int = 1  # once
    closes_day: int = 1
    from_week: int = 1  # repeat
    to_week: int = 1
    every_weeks: int = 1
    day: int = 1
    open_days: int = 1  # repeat, after_infusion
    age_groups: tuple = ()  # empty: every age group
    opens: time = time(9, 0)
    closes: time = time(21, 0)


@dataclass(frozen=True)
class Protocol:
    """Everything the planner needs, checked and typed."""

    name: str
    timezone: str
    site_name: dict
    site_phone: str
    infusion_time: time
    first_infusion_minutes: int
    second_infusion_minutes: int
    later_infusion_minutes: int
    phases: tuple[InfusionPhase, ...]
    marrow_time: time
    marrow_minutes: int
    marrow_visits: tuple[MarrowVisit, ...]
    quiet_start: time
    quiet_end: time
    visit_reminders: tuple[ReminderStep, ...]
    questionnaires: tuple[QuestionnaireEntry, ...] = ()
    nudge_before_close_hours: int = 24
    source: str = ""
    #: Where each type of visit takes place, per language; a type without one is at the site.
    places: dict = None
    #: When the study team answers the phone, per language, as the automatic reply says it.
    office_hours: dict = None

    def place(self, visit_type, language):
        """Return where a type of visit takes place, in one language."""
        return ((self.places or {}).get(visit_type) or self.site_name)[language]

    @cached_property
    def hotline(self) -> Hotline:
        """Return the site phone as families see it, worked out once: a tel: target and the local way."""
        return written_hotline(self.site_phone)


def week_to_day(week):
    """Return the study day on which a study week starts."""
    return 7 * (week - 1) + 1


def _clock(text):
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def load_protocol(path=None):
    """Load and validate a protocol file, raising ProtocolError naming file, line and reason."""
    try:
        return _build(LocatedYaml(path or DEFAULT_FILE))
    except DataFileError as exc:
        raise ProtocolError(exc.path, exc.line, exc.where, exc.reason) from None


def _build(doc):
    for error in schema_errors(doc, SCHEMA):
        raise error
    data = doc.data
    if not is_zone(data["study"]["timezone"]):
        raise doc.error(["study", "timezone"], f"unknown time zone {data['study']['timezone']!r}")
    try:
        phone = phonenumbers.parse(data["site"]["phone"], None)
        valid = phonenumbers.is_valid_number(phone)
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        raise doc.error(["site", "phone"], "not a valid international phone number (+country code)")

    phases = []
    previous_end = 0
    for i, raw in enumerate(data["infusions"]["phases"]):
        if raw["to_week"] < raw["from_week"]:
            raise doc.error(["infusions", "phases", i, "to_week"], "ends before it starts")
        if raw["from_week"] <= previous_end:
            raise doc.error(["infusions", "phases", i, "from_week"], "overlaps the phase before it")
        before, after = raw["window_days"]
        if before + after >= 7 * raw["every_weeks"]:
            raise doc.error(
                ["infusions", "phases", i, "window_days"],
                "windows of consecutive doses would overlap",
            )
        previous_end = raw["to_week"]
        phases.append(InfusionPhase(raw["name"], raw["from_week"], raw["to_week"],
                                    raw["every_weeks"], before, after))

    marrow = []
    for raw in data["marrow_aspirates"]["visits"]:
        day = raw["day"] if "day" in raw else week_to_day(raw["week"])
        marrow.append(MarrowVisit(raw["key"], day, *raw["window_days"]))
    repeat = data["marrow_aspirates"].get("repeat")
    if repeat:
        if not marrow:
            raise doc.error(["marrow_aspirates", "repeat"], "repeats need at least one visit before them")
        day = marrow[-1].day + 7 * repeat["every_weeks"]
        while day <= week_to_day(repeat["until_week"]):
            week = (day - 1) // 7 + 1
            marrow.append(MarrowVisit(f"week-{week}", day, *repeat["window_days"]))
            day += 7 * repeat["every_weeks"]
    keys = set()
    for i, visit in enumerate(marrow):
        where = ["marrow_aspirates", "visits", min(i, len(data["marrow_aspirates"]["visits"]) - 1)]
        if visit.key in keys:
            raise doc.error(where, f"marrow aspirate {visit.key!r} appears twice")
        keys.add(visit.key)
        if i and visit.day <= marrow[i - 1].day:
            raise doc.error(where, f"marrow aspirate {visit.key!r} is not after the one before it")
        if i and visit.day - visit.window_before <= marrow[i - 1].day + marrow[i - 1].window_after:
            raise doc.error(where, f"window of marrow aspirate {visit.key!r} overlaps the one before it")

    steps = []
    for i, raw in enumerate(data["reminders"]["visit"]):
        step = ReminderStep(raw["step"], raw["days_before"], _clock(raw["time"]),
                            raw.get("during_quiet_hours", False))
        if steps and (step.days_before, -step.time.hour * 60 - step.time.minute) >= (
                steps[-1].days_before, -steps[-1].time.hour * 60 - steps[-1].time.minute):
            raise doc.error(["reminders", "visit", i], "reminder steps must go from earliest to latest")
        if step.step in {s.step for s in steps}:
            raise doc.error(["reminders", "visit", i, "step"], f"step {step.step!r} appears twice")
        steps.append(step)

    entries = []
    for i, raw in enumerate(data["questionnaires"]["schedule"]):
        kind = next(k for k in ("once", "repeat", "after_infusion") if k in raw)
        spec = dict(raw[kind])
        for clock_key in ("opens", "closes"):
            if clock_key in spec:
                spec[clock_key] = _clock(spec[clock_key])
        entry = QuestionnaireEntry(raw["instrument"], raw["occasion"], kind, **spec,
                                   age_groups=tuple(raw.get("age_groups", ())))
        if kind == "once" and (entry.closes_day, entry.closes) <= (entry.opens_day, entry.opens):
            raise doc.error(["questionnaires", "schedule", i, kind], "the window closes before it opens")
        if kind == "repeat" and entry.to_week < entry.from_week:
            raise doc.error(["questionnaires", "schedule", i, kind, "to_week"], "ends before it starts")
        if kind == "repeat" and entry.open_days > 7 * entry.every_weeks:
            raise doc.error(["questionnaires", "schedule", i, kind, "open_days"],
                            "windows of consecutive occasions would overlap")
        if (entry.instrument, entry.occasion) in {(e.instrument, e.occasion) for e in entries}:
            raise doc.error(["questionnaires", "schedule", i, "occasion"],
                            f"{entry.instrument} already has an occasion named {entry.occasion!r}")
        entries.append(entry)

    infusions = data["infusions"]
    quiet = data["reminders"]["quiet_hours"]
    return Protocol(
        name=data["study"]["name"],
        timezone=data["study"]["timezone"],
        site_name=dict(data["site"]["name"]),
        site_phone=phonenumbers.format_number(phone, phonenumbers.PhoneNumberFormat.E164),
        infusion_time=_clock(infusions["time"]),
        first_infusion_minutes=infusions["duration_minutes"]["first"],
        second_infusion_minutes=infusions["duration_minutes"]["second"],
        later_infusion_minutes=infusions["duration_minutes"]["later"],
        phases=tuple(phases),
        marrow_time=_clock(data["marrow_aspirates"]["time"]),
        marrow_minutes=data["marrow_aspirates"]["duration_minutes"],
        marrow_visits=tuple(marrow),
        quiet_start=_clock(quiet["start"]),
        quiet_end=_clock(quiet["end"]),
        visit_reminders=tuple(steps),
        questionnaires=tuple(entries),
        nudge_before_close_hours=data["questionnaires"]["nudge_hours_before_close"],
        source=doc.path,
        places={kind: dict(names) for kind, names in data["site"].get("places", {}).items()},
        office_hours=dict(data["site"].get("office_hours") or OFFICE_HOURS),
    )
