"""The administrators' page: invite, change roles, reset two-factor, deactivate; all audited, admins only."""

import re

from sqlalchemy import select

from pro_app.audit.models import AuditEvent
from pro_app.db import db
from pro_app.staff.models import StaffRole, StaffUser


def _staff(app, email):
    with app.app_context():
        return db.session.scalar(select(StaffUser).where(StaffUser.email == email))


def test_only_admins_see_the_page(client, login):
    login("investigator")
    assert client.get("/staff/admin/").status_code == 403
    assert client.post("/staff/admin/invite", data={"email": "x@example.org", "role": "nurse"}).status_code == 403


def test_admin_invites_changes_resets_and_deactivates(app, client, login, make_staff):
    login("admin")
    page = client.post("/staff/admin/invite", data={"email": "New@Example.org", "role": "nurse",
                                                    "phone": "+8613800138222"})
    assert page.status_code == 200
    link = re.search(r'id="invitation-link">([^<]+)<', page.get_data(as_text=True)).group(1)
    assert "/staff/invitation/" in link
    assert client.post("/staff/admin/invite", data={"email": "new@example.org", "role": "nurse"}).status_code == 400
    assert client.post("/staff/admin/invite", data={"email": "nope", "role": "boss"}).status_code == 400
    invited = _staff(app, "new@example.org")
    assert invited.phone == "+8613800138222" and invited.invited_at is not None

    other = _staff(app, make_staff("investigator"))
    assert client.post(f"/staff/admin/{other.id}/role", data={"role": "nurse", "nurse_lead": "1"}).status_code == 303
    changed = _staff(app, other.email)
    assert changed.role == StaffRole.NURSE and changed.nurse_lead
    assert client.post(f"/staff/admin/{other.id}/role", data={"role": "king"}).status_code == 400
    assert client.post(f"/staff/admin/{other.id}/reset-two-factor").status_code == 303
    assert client.post(f"/staff/admin/{other.id}/deactivate").status_code == 303
    assert not _staff(app, other.email).active
    assert client.post("/staff/admin/999999/deactivate").status_code == 404
    me = _staff(app, "admin@example.org")
    assert client.post(f"/staff/admin/{me.id}/role", data={"role": "nurse"}).status_code == 400
    with app.app_context():
        actions = set(db.session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor == "staff:admin@example.org")))
    assert {"staff.invited", "staff.role_changed", "staff.two_factor_reset", "staff.deactivated"} <= actions


def test_an_admin_cannot_reset_or_close_their_own_account(app, client, login):
    login("admin")
    me = _staff(app, "admin@example.org")
    assert client.post(f"/staff/admin/{me.id}/reset-two-factor").status_code == 400
    assert client.post(f"/staff/admin/{me.id}/deactivate").status_code == 400
    assert client.get("/staff/admin/").status_code == 200  # still signed in
