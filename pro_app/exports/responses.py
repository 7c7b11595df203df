"""Responses as tidy rows: long (one row per answered item), wide (one per response), scores (pure)."""

import csv
import io

from pro_app.clock import to_local
from pro_app.exports.csvfile import safe_cell
from pro_app.exports.records import local_iso, study_day
from pro_app.questionnaires.instruments import wording

LONG_COLUMNS = (
    "study_id", "instrument_id", "instrument_version", "occasion", "window_opens_utc", "window_closes_utc",
    "visit_study_day", "study_day", "respondent", "respondent_role", "respondent_contact", "response_id",
    "item_id", "item_type", "value", "label_en", "unit", "answered_at_utc", "answered_at_local",
    "submitted_at_utc", "unfinished",
)
RESPONSE_COLUMNS = (
    "study_id", "instrument_id", "instrument_version", "occasion", "window_opens_utc", "window_closes_utc",
    "visit_study_day", "study_day", "respondent", "respondent_role", "respondent_contact", "response_id",
    "answered_at_utc", "answered_at_local", "submitted_at_utc", "unfinished",
)
SCORE_COLUMNS = (
    "study_id", "instrument_id", "instrument_version", "occasion", "study_day", "respondent", "respondent_role",
    "respondent_contact", "response_id", "score_id", "score_label_en", "method", "value", "submitted_at_utc",
)
#: How a yes/no answer is coded in every export, as a choice list: 1 yes, 0 no.
YES_NO_CHOICES = ((1, {"en": "Yes", "zh-CN": "是"}), (0, {"en": "No", "zh-CN": "否"}))
YES_NO = {bool(code): (code, label["en"]) for code, label in YES_NO_CHOICES}


def unit_of(item):
    """Name an item's unit in English: temperatures are stored in °C whatever was typed."""
    if item.unit == "temperature":
        return "°C"
    if isinstance(item.unit, dict):
        return item.unit.get("en", "")
    return item.unit or ""


def choices_of(item):
    """Return an item's coded answers as (value, label wording) pairs: its choices, or 1/0 for yes/no."""
    return YES_NO_CHOICES if item.type == "yesno" else item.choices


def coded(item, value):
    """Return (coded value, English label) of one stored answer."""
    if item.type == "yesno":
        return YES_NO[bool(value)]
    if item.type in ("single", "multiple"):
        labels = {v: label["en"] for v, label in item.choices}
        if not isinstance(value, list):
            return value, labels.get(value, "")
        return ";".join(str(v) for v in value), "; ".join(str(labels.get(v, "")) for v in value)
    return value, ""


def answered_items(items, answers):
    """Yield (item, value) for each of these items (an instrument's or a section's) the stored answers hold."""
    for item in items:
        value = answers.get(item.id)
        if value is None or value == []:
            continue
        yield item, value


def _local_date(instant, tz):
    return to_local(instant, tz).date()


def response_fields(record, instrument):
    """Return the columns every row of a response shares."""
    local_day = study_day(record.start_date, _local_date(record.answered_at, record.timezone))
    visit_day = (study_day(record.start_date, _local_date(record.visit_starts_at, record.timezone))
                 if record.visit_starts_at else None)
    return {
        "study_id": record.study_id, "instrument_id": record.instrument_id, "instrument_version": instrument.version,
        "occasion": record.occasion, "window_opens_utc": record.opens_at.isoformat(),
        "window_closes_utc": record.closes_at.isoformat(), "visit_study_day": visit_day, "study_day": local_day,
        "respondent": record.respondent, "respondent_role": record.contact_role,
        "respondent_contact": record.contact_id, "response_id": record.key,
        "answered_at_utc": record.answered_at.isoformat(),
        "answered_at_local": local_iso(record.answered_at, record.timezone),
        "submitted_at_utc": record.submitted_at.isoformat() if record.submitted_at else None,
        "unfinished": int(record.unfinished),
    }


def long_rows(record, instrument):
    """Yield one row per answered item of a response."""
    shared = response_fields(record, instrument)
    for item, value in answered_items(instrument.items(), record.answers):
        code, label = coded(item, value)
        yield {**shared, "item_id": item.id, "item_type": item.type, "value": code, "label_en": label,
               "unit": unit_of(item)}


HEAD = LONG_COLUMNS[:LONG_COLUMNS.index("item_id")]
TAIL = LONG_COLUMNS[LONG_COLUMNS.index("unit") + 1:]


def csv_cells(cells):
    """Write cells (already safe) as a piece of a CSV line, quoted as the csv module quotes them."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(cells)
    return buffer.getvalue()


class LongCsv:
    """The long table as CSV text, fast: it is the largest export (a row per answered item), so a
    response's shared cells are written once for all its rows, and each (item, answer) pair's
    cells once per instrument version (free text every time). Cells go through safe_cell."""

    def __init__(self):
        self._cells = {}
        self._items = {}

    def lines(self, record, instrument):
        """Return (the CSV lines of one response as one text, how many)."""
        shared = response_fields(record, instrument)
        head = csv_cells([safe_cell(shared[c]) for c in HEAD])
        tail = csv_cells([safe_cell(shared[c]) for c in TAIL])
        version = instrument.version
        if version not in self._items:
            self._items[version] = [(item.id, item, item.type == "text") for item in instrument.items()]
            self._cells[version] = {}
        cells = self._cells[version]
        answers = record.answers
        out = []
        for item_id, item, free_text in self._items[version]:
            value = answers.get(item_id)
            if value is None or value == []:
                continue
            key = (item_id, value.__class__, tuple(value) if value.__class__ is list else value)
            part = None if free_text else cells.get(key)
            if part is None:
                code, label = coded(item, value)
                part = csv_cells([safe_cell(item_id), item.type, safe_cell(code), safe_cell(label),
                                  safe_cell(unit_of(item))])
                if not free_text:
                    cells[key] = part
            out.append(f"{head},{part},{tail}\r\n")
        return "".join(out), len(out)


def wide_columns(instrument):
    """Return the columns of an instrument version's wide table: the response, each item, each score."""
    return RESPONSE_COLUMNS + tuple(i.id for i in instrument.items()) + tuple(f"score_{s.id}"
                                                                            for s in instrument.scores)


def wide_row(record, instrument):
    """Return one response as a row of its instrument version's wide table (coded values)."""
    row = response_fields(record, instrument)
    for item, value in answered_items(instrument.items(), record.answers):
        row[item.id] = coded(item, value)[0]
    for score in instrument.scores:
        row[f"score_{score.id}"] = record.scores.get(score.id)
    return row


def score_rows(record, instrument):
    """Yield one row per score of a submitted response (None when too few items were answered)."""
    shared = response_fields(record, instrument)
    for score in instrument.scores:
        yield {key: shared[key] for key in SCORE_COLUMNS if key in shared} | {
            "score_id": score.id, "score_label_en": wording(score.label, "self", "en"), "method": score.method,
            "value": record.scores.get(score.id),
        }
