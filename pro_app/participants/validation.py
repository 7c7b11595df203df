"""Checking enrolment data from the form, the command line or a CSV row (pure)."""

import re
from dataclasses import dataclass, field
from datetime import date

import phonenumbers
from flask_babel import lazy_gettext as _l

from pro_app.clock import is_zone
from pro_app.inputs import EARLIEST_STUDY_DATE, LATEST_START
from pro_app.participants.models import LANGUAGES, age_group

STUDY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,31}$")
MAX_CAREGIVERS = 4


@dataclass
class CaregiverInput:
    phone: str
    language: str
    name: str | None
    timezone: str


@dataclass
class Enrolment:
    """Valid, normalised enrolment data."""

    study_id: str
    start: date
    timezone: str
    language: str
    age: int | None
    phone: str | None
    caregivers: list[CaregiverInput] = field(default_factory=list)


def normalise_phone(text):
    """Return a phone number in E.164 form, or raise ValueError with a reason."""
    text = (text or "").strip()
    if not text.startswith("+"):
        raise ValueError(_l("Enter the number in international form, starting with + and the country code."))
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValueError(_l("%(phone)s is not a phone number.", phone=text)) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(_l("%(phone)s is not a valid phone number.", phone=text))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def parse_date(text):
    """Parse an ISO date (YYYY-MM-DD), or raise ValueError with a reason."""
    if isinstance(text, date):
        return text
    try:
        return date.fromisoformat((text or "").strip())
    except ValueError:
        raise ValueError(_l("%(value)s is not a date (use YYYY-MM-DD).", value=text)) from None


def check_enrolment(raw):
    """Validate raw enrolment fields; return (Enrolment or None, {field: message})."""
    errors = {}

    def take(name, parse):
        try:
            return parse(raw.get(name))
        except ValueError as exc:
            errors[name] = exc.args[0]
            return None

    study_id = (raw.get("study_id") or "").strip()
    if not STUDY_ID.match(study_id):
        errors["study_id"] = _l("Use 2-32 letters, digits, - or _ (a pseudonymous study ID, never a name).")
    start = take("start", parse_date)
    if start is not None and not EARLIEST_STUDY_DATE <= start <= LATEST_START:
        errors["start"] = _l("Choose a date from %(first)s to %(last)s.", first=EARLIEST_STUDY_DATE.isoformat(),
                             last=LATEST_START.isoformat())
    tz = (raw.get("tz") or "").strip()
    if not is_zone(tz):
        errors["tz"] = _l("%(value)s is not a known time zone (e.g. Asia/Shanghai).", value=tz)
    lang = (raw.get("lang") or "").strip()
    if lang not in LANGUAGES:
        errors["lang"] = _l("Choose zh-CN or en.")
    age = take("age", _parse_age)
    phone = take("phone", lambda v: normalise_phone(v) if (v or "").strip() else None)

    caregivers = []
    seen = {phone} if phone else set()
    for i, cg in enumerate(raw.get("caregivers") or []):
        prefix = f"caregivers-{i}-"
        if not any((cg.get(k) or "").strip() for k in ("phone", "name")):
            continue
        try:
            cg_phone = normalise_phone(cg.get("phone"))
        except ValueError as exc:
            errors[prefix + "phone"] = exc.args[0]
            continue
        if cg_phone in seen:
            errors[prefix + "phone"] = _l("This number is already given for this participant.")
            continue
        seen.add(cg_phone)
        cg_lang = (cg.get("lang") or "").strip() or lang
        if cg_lang not in LANGUAGES:
            errors[prefix + "lang"] = _l("Choose zh-CN or en.")
            continue
        name = (cg.get("name") or "").strip() or None
        if name and len(name) > 80:
            errors[prefix + "name"] = _l("Keep the name under 80 characters.")
            continue
        cg_tz = (cg.get("tz") or "").strip() or tz
        if not is_zone(cg_tz):
            errors[prefix + "tz"] = _l("%(value)s is not a known time zone (e.g. Asia/Shanghai).", value=cg_tz)
            continue
        caregivers.append(CaregiverInput(cg_phone, cg_lang, name, cg_tz))
    if len(caregivers) > MAX_CAREGIVERS:
        errors["caregivers"] = _l("At most %(n)d caregivers.", n=MAX_CAREGIVERS)

    if "age" not in errors and age_group(age) != "adult" and not caregivers and not errors:
        errors["caregivers"] = _l("A participant under 18 needs at least one caregiver contact.")
    if "age" not in errors and age_group(age) == "child" and phone:
        errors["phone"] = _l("Children under 7 are reached through their caregivers; leave the patient phone empty.")

    if errors:
        return None, errors
    return Enrolment(study_id, start, tz, lang, age, phone, caregivers), {}


def _parse_age(value):
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    if not text.isdigit() or not 0 <= int(text) <= 120:
        raise ValueError(_l("%(value)s is not an age in years (0-120).", value=text))
    return int(text)
