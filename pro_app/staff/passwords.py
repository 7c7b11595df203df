"""The staff password rule: long enough, not common, not the email address."""

import re
from functools import cache
from importlib.resources import files

from flask_babel import gettext as _

MIN_PASSWORD_LENGTH = 12
_EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_NOT_LETTERS = re.compile(r"[^a-z]+")
_DRESSING = "0123456789!@#$%^&*()_-+=.,;:?~ "
_LEET = str.maketrans("@4310$5!7", "aaeiossit")


@cache
def common_passwords():
    """Return the shipped list of common passwords and stems, lower case."""
    text = files("pro_app.staff").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


def password_problem(password, email=None):
    """Say what is wrong with a new staff password, or return None when it may be used."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _("Use at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    lowered = password.lower()
    if _EMAIL_LIKE.fullmatch(password.strip()):
        return _("Do not use an email address as the password.")
    local = (email or "").strip().lower().partition("@")[0]
    if len(local) >= 3 and local in lowered:
        return _("Do not use your email address in the password.")
    common = common_passwords()
    # The stem catches the usual dressing-up of a common word: capitals, digits and symbols around it.
    core = lowered.strip(_DRESSING)
    stems = {lowered, core, _NOT_LETTERS.sub("", core), _NOT_LETTERS.sub("", core.translate(_LEET))}
    if stems & common or len(set(lowered)) < 5:
        return _("This password is too common or too simple: choose a longer phrase of your own.")
    return None
