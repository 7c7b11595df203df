"""Forms for changing visits."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

REASON = [DataRequired(message=_l("Give a reason for the change.")), Length(max=500)]


def tell_family_field(**kwargs):
    """Ticked by default: a change the family does not hear of is a visit they miss."""
    return BooleanField(_l("Tell the family (one text, held until their quiet hours end)"), default=True,
                        **kwargs)


class MoveForm(FlaskForm):
    new_date = DateField(_l("New date"), validators=[DataRequired(message=_l("Enter a date."))])
    new_time = TimeField(_l("New time"), validators=[DataRequired(message=_l("Enter a time."))])
    shift_later = BooleanField(_l("Shift later visits of this kind by the same number of days (e.g. a delayed dose)"))
    shift_other_kinds = BooleanField(_l("Also shift later visits of other kinds (marrow aspirates)"))
    tell_family = tell_family_field()
    reason = TextAreaField(_l("Reason"), validators=REASON)


class StatusForm(FlaskForm):
    status = SelectField(_l("New status"), choices=[
        SelectChoice("confirmed", _l("Confirmed")), SelectChoice("done", _l("Done")),
        SelectChoice("missed", _l("Missed")), SelectChoice("cancelled", _l("Cancelled")),
        SelectChoice("scheduled", _l("Scheduled (reinstate)")),
    ])
    # Only a cancellation is texted; the visit page shows this form beside the move form.
    tell_family = tell_family_field(id="status-tell_family")
    reason = TextAreaField(_l("Reason"), validators=REASON)


class AddVisitForm(FlaskForm):
    kind = SelectField(_l("Kind"), choices=[
        SelectChoice("infusion", _l("Infusion")), SelectChoice("marrow", _l("Marrow aspirate")),
        SelectChoice("other", _l("Other visit")),
    ])
    label = StringField(_l("Label (optional)"), validators=[Optional(), Length(max=80)])
    on = DateField(_l("Date"), validators=[DataRequired(message=_l("Enter a date."))])
    at = TimeField(_l("Time"), validators=[DataRequired(message=_l("Enter a time."))])
    duration_minutes = IntegerField(_l("Duration (minutes)"), default=60,
                                    validators=[DataRequired(), NumberRange(min=15, max=1440)])
    window_days = IntegerField(_l("Window (± days)"), default=0,
                               validators=[Optional(), NumberRange(min=0, max=30)])
    tell_family = tell_family_field()
    reason = TextAreaField(_l("Reason"), validators=REASON)
