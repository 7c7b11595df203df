"""Settings for a real deployment: trusted proxies, demo mode, and what refuses to start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

from pro_app import create_app
from pro_app.config import ConfigError

BIN = Path(sys.executable).parent


def make(tmp_path, **settings):
    return create_app({"SECRET_KEY": "x", "DATABASE_URL": "sqlite://", **settings}, instance_path=str(tmp_path))


def test_no_proxy_is_trusted_by_default(tmp_path):
    app = make(tmp_path)
    assert not isinstance(app.wsgi_app, ProxyFix)
    response = app.test_client().get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers  # a forged header changes nothing


@pytest.mark.parametrize("setting, hops", [("1", 1), (2, 2)])
def test_trusted_proxies_set_scheme_host_and_client_address(tmp_path, setting, hops):
    app = make(tmp_path, TRUSTED_PROXIES=setting)
    assert isinstance(app.wsgi_app, ProxyFix)
    assert (app.wsgi_app.x_for, app.wsgi_app.x_proto, app.wsgi_app.x_host, app.wsgi_app.x_port) == (hops,) * 4
    seen = {}

    @app.get("/_seen")
    def _seen():
        from flask import request

        seen.update(addr=request.remote_addr, scheme=request.scheme, host=request.host)
        return "ok"

    # Each proxy appends what it saw; a client may have put anything in front.
    forwarded = ["10.6.6.6", "203.0.113.9", "198.51.100.7"][-hops - 1:]
    response = app.test_client().get("/_seen", headers={
        "X-Forwarded-For": ", ".join(forwarded),
        "X-Forwarded-Proto": ", ".join(["http"] + ["https"] * hops),
        "X-Forwarded-Host": ", ".join(["evil.example"] + ["pro.example-hospital.cn"] * hops),
    })
    assert response.status_code == 200
    assert seen == {"addr": forwarded[1], "scheme": "https", "host": "pro.example-hospital.cn"}


@pytest.mark.parametrize("bad", ["-1", "many", True])
def test_a_bad_proxy_count_is_refused(tmp_path, bad):
    with pytest.raises(ConfigError, match="PRO_TRUSTED_PROXIES"):
        make(tmp_path, TRUSTED_PROXIES=bad)


def test_https_with_the_console_backend_refuses_to_start(tmp_path):
    with pytest.raises(ConfigError, match="PRO_SMS_BACKEND.*PRO_PUBLIC_URL.*PRO_DEMO"):
        make(tmp_path, PUBLIC_URL="https://pro.example-hospital.cn")


@pytest.mark.parametrize("settings", [{"DEMO": "1"}, {"DEMO": True}, {"SMS_BACKEND": "twilio"}])
def test_https_starts_with_a_real_backend_or_as_a_demo(tmp_path, settings):
    app = make(tmp_path, PUBLIC_URL="https://pro.example-hospital.cn", **settings)
    assert app.config["SESSION_COOKIE_SECURE"] is True and app.config["PREFERRED_URL_SCHEME"] == "https"


def test_plain_http_cookies_are_not_secure(tmp_path):
    assert not make(tmp_path).config.get("SESSION_COOKIE_SECURE")


def test_demo_is_off_unless_asked_for(tmp_path):
    assert make(tmp_path).config["DEMO"] is False
    assert make(tmp_path, DEMO="off").config["DEMO"] is False
    assert make(tmp_path, DEMO="on").config["DEMO"] is True
    with pytest.raises(ConfigError, match="PRO_DEMO"):
        make(tmp_path, DEMO="perhaps")


def test_demo_command_exists_only_in_demo_mode(tmp_path):
    result = make(tmp_path).test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 2 and "No such command 'demo'" in result.output
    assert make(tmp_path, DEMO=True).cli.get_command(None, "demo") is not None


def test_dev_phone_exists_only_in_demo_mode(tmp_path):
    assert make(tmp_path).test_client().get("/dev/phone/").status_code == 404


@pytest.mark.parametrize("app_config", [{"DEMO": True}])
def test_dev_phone_opens_in_demo_mode(app):
    # On a migrated database: an unmigrated one would answer 503, which is not "exists" either.
    assert app.test_client().get("/dev/phone/").status_code == 200


def test_the_command_line_names_the_setting_without_a_traceback(tmp_path):
    env = {**os.environ, "PRO_PUBLIC_URL": "https://pro.example-hospital.cn", "PRO_SMS_BACKEND": "console",
           "PRO_SECRET_KEY": "x", "PRO_DATABASE_URL": f"sqlite:///{tmp_path / 'pro.db'}"}
    env.pop("PRO_DEMO", None)
    result = subprocess.run([str(BIN / "pro-app"), "db", "current"], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "Error: PRO_SMS_BACKEND is 'console' but PRO_PUBLIC_URL is https" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    env["PRO_DEMO"] = "1"
    ok = subprocess.run([str(BIN / "pro-app"), "db", "current"], env=env, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
