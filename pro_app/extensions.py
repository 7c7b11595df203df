"""Flask extensions, created unbound and initialised in create_app."""

from flask import g
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_wtf import CSRFProtect


class SameOriginCSRF(CSRFProtect):
    """CSRF tokens, plus a same-origin check that works over https without a Referer."""

    def protect(self, apply_exemptions=False):
        super().protect(apply_exemptions)
        # Only requests whose token was checked (not exempt webhooks, not safe methods).
        if g.get("csrf_valid"):
            from pro_app.security import check_origin

            check_origin()


babel = Babel()
csrf = SameOriginCSRF()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
