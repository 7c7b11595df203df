"""The study hotline: one helper, written the way families write it, tappable on every page that shows it."""

import pytest

from pro_app.protocol.hotline import hotline


@pytest.mark.parametrize(("e164", "display"), [
    ("+862223909999", "022-2390 9999"),  # a Tianjin landline: area code joined with a hyphen
    ("+861065123456", "010-6512 3456"),  # Beijing
    ("+8613800138000", "138 0013 8000"),  # a mobile has no area code
    ("+864008123123", "400 812 3123"),  # a nationwide service number
])
def test_hotline_is_written_the_local_way_and_dialled_in_e164(e164, display):
    line = hotline(e164)
    assert line.display == display and str(line) == display
    assert line.tel == e164


def test_the_protocols_hotline_is_on_every_page_context(app):
    with app.test_request_context("/"):
        from flask import render_template_string

        html = render_template_string('<a href="tel:{{ hotline.tel }}">{{ hotline.display }}</a>')
    assert html == '<a href="tel:+862223909999">022-2390 9999</a>'


def test_an_unknown_link_page_shows_the_hotline_as_a_tel_link(client):
    page = client.get("/q/" + "x" * 32)
    assert page.status_code == 404
    assert '<a class="tel" href="tel:+862223909999">022-2390 9999</a>' in page.get_data(as_text=True)


def test_the_protocols_hotline_is_worked_out_once_per_app(app):
    from pro_app.protocol import current_hotline, current_protocol

    with app.app_context():
        assert current_hotline() is current_hotline() is current_protocol().hotline
        assert current_hotline() == hotline(current_protocol().site_phone)
