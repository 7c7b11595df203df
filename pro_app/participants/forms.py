"""The enrolment form; its rules live in validation.check_enrolment."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

LANGUAGE_CHOICES = [SelectChoice("zh-CN", "中文 (zh-CN)"), SelectChoice("en", "English (en)")]


class CaregiverForm(Form):
    name = StringField(_l("Name or relation (optional)"))
    phone = StringField(_l("Mobile phone"))
    lang = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="zh-CN")
    tz = StringField(_l("Time zone (if not the participant's)"))


class EnrolForm(FlaskForm):
    study_id = StringField(_l("Study ID"))
    start = StringField(_l("Day 1 (first infusion)"))
    tz = StringField(_l("Time zone"), default="Asia/Shanghai")
    lang = SelectField(_l("Language"), choices=LANGUAGE_CHOICES, default="zh-CN")
    age = StringField(_l("Age in years (empty for adults)"))
    phone = StringField(_l("Patient's mobile phone"))
    caregivers = FieldList(FormField(CaregiverForm), min_entries=2, max_entries=4)

    def raw(self):
        """Return the typed values in the shape check_enrolment expects."""
        return {
            "study_id": self.study_id.data, "start": self.start.data, "tz": self.tz.data,
            "lang": self.lang.data, "age": self.age.data, "phone": self.phone.data,
            "caregivers": [
                {"name": e.form.name.data, "phone": e.form.phone.data, "lang": e.form.lang.data,
                 "tz": e.form.tz.data}
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
