"""STOP is confirmed where the provider does not confirm it; START and free text get answers."""

from datetime import date

import pytest
from conftest import NOW
from test_sms_webhooks import PATIENT, messages, post_inbound

from pro_app.protocol.model import load_protocol
from pro_app.sms.inbound import provider_confirms_stop
from pro_app.sms.models import MessageState


@pytest.fixture
def app_config(twilio_config):
    # As on a Twilio short code or a provider that leaves STOP to the app.
    return {**twilio_config, "SMS_STOP_CONFIRMED_BY": "aliyun"}


def test_which_providers_confirm_stop_themselves():
    assert provider_confirms_stop({"SMS_STOP_CONFIRMED_BY": "twilio"}, "twilio")
    assert not provider_confirms_stop({"SMS_STOP_CONFIRMED_BY": "twilio"}, "aliyun")
    assert not provider_confirms_stop({"SMS_STOP_CONFIRMED_BY": ""}, "console")
    assert provider_confirms_stop({"SMS_STOP_CONFIRMED_BY": "aliyun, twilio"}, "twilio")


def test_stop_gets_the_apps_confirmation_and_then_nothing_more(app, client, fake_twilio, tick, clock,
                                                                make_participant):
    make_participant("P-001", start=date(2026, 3, 16), lang="zh-CN", phone=PATIENT)
    tick(NOW)
    fake_twilio.clear()
    assert post_inbound(client, fake_twilio, PATIENT, "退订").status_code == 200
    [confirmation] = messages(app, template="reply_opt_out")
    tick(clock.now)
    assert messages(app, id=confirmation.id)[0].state == MessageState.SENT
    [got] = fake_twilio.messages_to(PATIENT)
    assert "您已退订" in got["body"] and "START" in got["body"]
    # Nothing else reaches the number afterwards.
    pending = [m for m in messages(app, to_phone=PATIENT) if m.state == MessageState.PENDING]
    for m in pending[:3]:
        tick(m.due_at)
    assert len(fake_twilio.messages_to(PATIENT)) == 1
    assert post_inbound(client, fake_twilio, PATIENT, "START").status_code == 200
    assert len(messages(app, template="reply_opt_in")) == 1


def test_a_site_without_office_hours_gets_the_default(tmp_path):
    text = open(load_protocol().source, encoding="utf-8").read()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("office_hours:")]
    own = tmp_path / "site.yaml"
    own.write_text("\n".join(lines), encoding="utf-8")
    assert load_protocol(own).office_hours["en"] == "Monday to Friday 8:00–17:00"
