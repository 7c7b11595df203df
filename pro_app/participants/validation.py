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
    texts: bool = True  # consent to study texts
    questionnaires: bool = True  # consent to questionnaires


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
    birth_date: date | None = None
    #: The consents taken at enrolment: the patient's own texts and questionnaires, the separate
    #: health-data consent, a guardian's (under 14) and the child's assent (8 to 17).
    texts: bool = True
    questionnaires: bool = True
    health_data: bool = True
    guardian: bool = False
    assent: bool = False
    consent_version: str = "1.0"


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


def check_enrolment(raw, default_version="1.0"):
    """Validate raw enrolment fields; return (Enrolment or None, {field: message}).

    Consent fields (texts, questionnaires, health_data, guardian, assent, and per caregiver texts
    and questionnaires) left empty count as given: enrolment records the signed consent form.
    """
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
    birth_date = take("birth_date", lambda v: parse_date(v) if (str(v or "")).strip() else None)
    if birth_date is not None and start is not None:
        if not date(start.year - 120, 1, 1) <= birth_date <= start:
            errors["birth_date"] = _l("Give a date of birth before day 1.")
        elif age is None and "age" not in errors:
            age = years_between(birth_date, start)
        elif age is not None and abs(years_between(birth_date, start) - age) > 1:
            errors["age"] = _l("The age does not fit the date of birth.")
    phone = take("phone", lambda v: normalise_phone(v) if (v or "").strip() else None)

    caregivers = []
    row_of = {}  # raw caregiver row -> its CaregiverInput
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
        row_of[i] = CaregiverInput(cg_phone, cg_lang, name, cg_tz)
        caregivers.append(row_of[i])
    if len(caregivers) > MAX_CAREGIVERS:
        errors["caregivers"] = _l("At most %(n)d caregivers.", n=MAX_CAREGIVERS)

    if "age" not in errors and age_group(age) != "adult" and not caregivers and not errors:
        errors["caregivers"] = _l("A participant under 18 needs at least one caregiver contact.")
    if "age" not in errors and age_group(age) == "child" and phone:
        errors["phone"] = _l("Children under 7 are reached through their caregivers; leave the patient phone empty.")

    consent = {name: take(name, _yes_no) for name in ("texts", "questionnaires", "health_data", "guardian", "assent")}
    version = str(raw.get("consent_version") or "").strip() or default_version
    if len(version) > 40:
        errors["consent_version"] = _l("Keep the consent document version under 40 characters.")
    if consent["health_data"] is False:
        errors["health_data"] = _l("Health data can only be collected with the separate consent to its processing.")
    # A guardian consents for a child under 14; a child from 8 to 17 also gives their own assent.
    guardian = age is not None and age < 14
    assent = age is not None and 8 <= age < 18
    if "age" not in errors and guardian and consent["guardian"] is False:
        errors["guardian"] = _l("A child under 14 takes part only with a guardian's consent.")
    if "age" not in errors and assent and consent["assent"] is False:
        errors["assent"] = _l("A child from 8 takes part only with their own assent.")
    for i, cg in enumerate(raw.get("caregivers") or []):
        for name in ("texts", "questionnaires"):
            try:
                value = _yes_no(cg.get(name))
            except ValueError as exc:
                errors[f"caregivers-{i}-{name}"] = exc.args[0]
                continue
            if value is False and i in row_of:
                setattr(row_of[i], name, False)

    if errors:
        return None, errors
    return Enrolment(study_id, start, tz, lang, age, phone, caregivers, birth_date=birth_date,
                     texts=consent["texts"] is not False, questionnaires=consent["questionnaires"] is not False,
                     health_data=True, guardian=guardian, assent=assent,
                     consent_version=version), {}


def years_between(born, day):
    """Return someone's age in whole years on a day."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def _yes_no(value):
    """Read a consent answer: empty means given (recorded by whoever enrols), yes/no otherwise."""
    text = str(value if value is not None else "").strip().lower()
    if text in ("", "yes", "y", "1", "true", "on", "是"):
        return None if text == "" else True
    if text in ("no", "n", "0", "false", "off", "否"):
        return False
    raise ValueError(_l("%(value)s is not yes or no.", value=value))


def _parse_age(value):
    text = str(value).strip() if value is not None else ""
    if not text:
        return None
    if not text.isdigit() or not 0 <= int(text) <= 120:
        raise ValueError(_l("%(value)s is not an age in years (0-120).", value=text))
    return int(text)
