"""Enrolment checks are pure: the form, the CLI and the CSV import share them."""

from datetime import date

import pytest

from pro_app.participants.validation import check_enrolment, normalise_phone

pytestmark = pytest.mark.usefixtures("english")


def raw(**changes):
    base = {"study_id": "P-001", "start": "2026-03-02", "tz": "Asia/Shanghai", "lang": "zh-CN",
            "age": "", "phone": "+8613800138001", "caregivers": []}
    base.update(changes)
    return base


def test_valid_adult():
    enrolment, errors = check_enrolment(raw())
    assert errors == {}
    assert enrolment.start == date(2026, 3, 2)
    assert enrolment.age is None and enrolment.phone == "+8613800138001"


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"phone": "+86123"}, "phone", "not a valid phone number"),
    ({"phone": "13800138001"}, "phone", "international form"),
    ({"phone": "+86 abc"}, "phone", "not a phone number"),
    ({"tz": "Asia/Nowhere"}, "tz", "not a known time zone"),
    ({"tz": ""}, "tz", "not a known time zone"),
    ({"start": "2026-02-30"}, "start", "not a date"),
    ({"start": "next monday"}, "start", "not a date"),
    ({"lang": "fr"}, "lang", "zh-CN or en"),
    ({"age": "-3"}, "age", "not an age"),
    ({"age": "1000"}, "age", "not an age"),
    ({"study_id": "Li Wei"}, "study_id", "pseudonymous"),
    ({"study_id": "x"}, "study_id", "2-32"),
    ({"age": "12"}, "caregivers", "under 18 needs at least one caregiver"),
    ({"age": "5", "caregivers": [{"phone": "+8613800138012"}]}, "phone", "under 7"),
    ({"caregivers": [{"phone": "+8613800138001"}]}, "caregivers-0-phone", "already given"),
    ({"caregivers": [{"phone": "+8613800138012", "lang": "de"}]}, "caregivers-0-lang", "zh-CN or en"),
])
def test_bad_fields_are_named(changes, field, words):
    enrolment, errors = check_enrolment(raw(**changes))
    assert enrolment is None
    assert field in errors
    assert words in str(errors[field])


def test_child_by_proxy_with_caregivers_in_other_languages():
    enrolment, errors = check_enrolment(raw(age="5", phone="", caregivers=[
        {"phone": "+8613800138013", "name": "Father", "lang": ""},
        {"phone": "+44 7911 123456", "name": "Aunt", "lang": "en"},
        {"phone": "", "name": "", "lang": "en"},  # an empty row of the form is ignored
    ]))
    assert errors == {}
    assert enrolment.phone is None
    assert [(c.phone, c.language) for c in enrolment.caregivers] == [
        ("+8613800138013", "zh-CN"), ("+447911123456", "en")]


def test_phone_is_normalised_to_e164():
    assert normalise_phone(" +1 (212) 555-1234 ") == "+12125551234"
