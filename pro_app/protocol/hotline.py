"""The study hotline as families see it: a tappable tel: link and the number written the local way."""

from dataclasses import dataclass

import phonenumbers


@dataclass(frozen=True)
class Hotline:
    tel: str  # E.164, for href="tel:..." (works from any phone, at home or abroad)
    display: str  # as printed on a hospital card in Tianjin, e.g. "022-2390 9999"

    def __str__(self):
        return self.display


def hotline(e164):
    """Write a hotline the way people in its own country write it, keeping E.164 for the link."""
    number = phonenumbers.parse(e164)
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    # phonenumbers gives "022 2390 9999" for a Tianjin landline; local cards and signs join the
    # trunk-and-area code to the number with a hyphen ("022-2390 9999"). Mobiles ("138 0013 8000")
    # and 400/800 service numbers have no area code and keep the library's spacing.
    if number.country_code == 86 and national.startswith("0") and " " in national:
        area, rest = national.split(" ", 1)
        national = f"{area}-{rest}"
    return Hotline(tel=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), display=national)
