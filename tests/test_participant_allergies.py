"""The participant page shows the allergies given in the baseline questionnaire."""

from datetime import UTC, date, datetime

from sqlalchemy import select

from pro_app.db import db
from pro_app.questionnaires import current_instruments
from pro_app.questionnaires import operations as ops
from pro_app.questionnaires.models import Assignment


def _answer_baseline(app, answers):
    with app.app_context():
        assignment = db.session.scalar(select(Assignment).where(Assignment.instrument_id == "baseline"))
        instrument = current_instruments()["baseline"]
        at = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
        draft = ops.open_draft(db.session, assignment, instrument, at)
        draft.answers = answers
        ops.submit(db.session, assignment, draft, instrument, draft.submit_key, at)
        db.session.commit()


def test_allergies_from_baseline_are_on_the_participant_page(app, client, login, make_participant):
    make_participant("P-001", start=date(2026, 3, 9))  # baseline still open
    login("nurse", lang="en")
    page = client.get("/staff/participants/P-001").get_data(as_text=True)
    assert "Allergies (baseline)" in page and "baseline questionnaire not answered yet" in page
    _answer_baseline(app, {"feel_overall": 7, "activity_level": 4, "has_allergies": True,
                           "allergies_details": "Penicillin <b>rash</b>", "evening_time": 19})
    page = client.get("/staff/participants/P-001").get_data(as_text=True)
    assert "<strong>Penicillin &lt;b&gt;rash&lt;/b&gt;</strong>" in page  # shown, and escaped
    assert "not answered yet" not in page


def test_no_known_allergies_is_said_plainly(app, client, login, make_participant):
    make_participant("P-001", start=date(2026, 3, 9))  # baseline still open
    _answer_baseline(app, {"feel_overall": 7, "activity_level": 4, "has_allergies": False, "evening_time": 19})
    login("nurse", lang="en")
    page = client.get("/staff/participants/P-001").get_data(as_text=True)
    assert "none known" in page
