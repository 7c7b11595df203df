"""The enrolment form; its rules live in validation.check_enrolment."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

LANGUAGE_CHOICES = [SelectChoice("zh-CN", "中文 (zh-CN)"), SelectChoice("en", "English (en)")]
#: What the signed consent form says; "yes" is preset because enrolment follows the signed form.
CONSENT_CHOICES = [SelectChoice("yes", _l("agreed")), SelectChoice("no", _l("not agreed"))]


def consent_field(text):
    return SelectField(text, choices=CONSENT_CHOICES, default="yes")


class CaregiverForm(Form):
    name = StringField(_l("Name or relation (optional)"))
    phone = StringField(_l("Mobile phone"))
    lang = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="zh-CN")
    tz = StringField(_l("Time zone (if not the participant's)"))
    texts = consent_field(_l("Consent to study texts"))
    questionnaires = consent_field(_l("Consent to questionnaires"))


class EnrolForm(FlaskForm):
    study_id = StringField(_l("Study ID"))
    start = StringField(_l("Day 1 (first infusion)"))
    tz = StringField(_l("Time zone"), default="Asia/Shanghai")
    lang = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="zh-CN")
    age = StringField(_l("Age in years (empty for adults)"))
    phone = StringField(_l("Patient's mobile phone"))
    birth_date = StringField(_l("Date of birth (optional; gives the age and the re-consent dates)"))
    consent_version = StringField(_l("Consent document version"))
    texts = consent_field(_l("Patient's consent to study texts"))
    questionnaires = consent_field(_l("Patient's consent to questionnaires"))
    health_data = consent_field(_l("Consent to the processing of health data (separate consent)"))
    guardian = consent_field(_l("Guardian's consent (child under 14)"))
    assent = consent_field(_l("Child's own assent (from 8)"))
    caregivers = FieldList(FormField(CaregiverForm), min_entries=2, max_entries=4)

    def raw(self):
        """Return the typed values in the shape check_enrolment expects."""
        return {
            "study_id": self.study_id.data, "start": self.start.data, "tz": self.tz.data,
            "lang": self.lang.data, "age": self.age.data, "phone": self.phone.data,
            "birth_date": self.birth_date.data, "consent_version": self.consent_version.data,
            "texts": self.texts.data, "questionnaires": self.questionnaires.data,
            "health_data": self.health_data.data, "guardian": self.guardian.data, "assent": self.assent.data,
            "caregivers": [
                {"name": e.form.name.data, "phone": e.form.phone.data, "lang": e.form.lang.data,
                 "tz": e.form.tz.data, "texts": e.form.texts.data, "questionnaires": e.form.questionnaires.data}
                for e in self.caregivers.entries
            ],
        }

    def show_errors(self, errors):
        """Put check_enrolment's messages next to their fields."""
        for key, message in errors.items():
            if key.startswith("caregivers-") and key.count("-") == 2:
                _, index, name = key.split("-")
                field = getattr(self.caregivers.entries[int(index)].form, name)
            else:
                field = getattr(self, key, None) or self.caregivers
            field.errors = [*list(field.errors or []), message]


class StatusForm(FlaskForm):
    status = SelectField(_l("Status"), choices=[
        SelectChoice("active", _l("active")), SelectChoice("paused", _l("paused")),
        SelectChoice("withdrawn", _l("withdrawn")), SelectChoice("completed", _l("completed")),
        SelectChoice("deceased", _l("deceased")),
    ])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(message=_l("Give a reason for the change.")),
                                                     Length(max=500)])
