"""Approved provider templates: the shipped file passes its check, each planted mistake names file, line and reason."""

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pro_app import create_app
from pro_app.config import ConfigError
from pro_app.sms.templates import DEFAULT_FILE, TemplateError, TemplateSet, app_kinds

SHIPPED = DEFAULT_FILE.read_text(encoding="utf-8")


def line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def plant(tmp_path, old, new):
    assert SHIPPED.count(old) == 1, old
    text = SHIPPED.replace(old, new)
    path = tmp_path / "templates.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def test_shipped_file_passes_and_covers_every_kind_the_app_sends(runner):
    result = runner.invoke(args=["sms", "templates", "check"])
    assert result.exit_code == 0, result.output
    assert "templates OK" in result.output
    templates = TemplateSet()
    for kind, languages in app_kinds().items():
        for language in languages:
            assert templates.get(kind, language).code.startswith("SMS_")
    assert "visit_reminder/marrow" in app_kinds() and "reply_help" in app_kinds()


MISTAKES = [
    # (what is planted, the line it is reported on, the reason)
    pytest.param(("  reply_reschedule:\n", "  reply_reschedule_old:\n"), "  reply_reschedule_old:",
                 "reply_reschedule_old is not a kind of text the app sends", id="unknown-kind"),
    pytest.param(("前填写问卷“${title}”：${link} 如", "前填写问卷“${title}”。如"),
                 "前填写问卷“${title}”。如", "missing variable ${link}", id="missing-variable"),
    pytest.param(("deadline: {kind: deadline, max: 11}", "deadline: {kind: deadline, max: 5}"),
                 "您好，请在 ${deadline}", "${deadline} is too long", id="too-long-variable"),
    pytest.param(("zone_note: {kind: zone, max: 35}", "zone_note: {kind: zone, max: 60}"),
                 "zone_note: {kind: zone, max: 60}", "over the provider's 35 characters",
                 id="variable-over-provider-limit"),
    pytest.param(("回复 HELP 获取帮助，", "详情 https://bit.ly/3xYz 回复 HELP 获取帮助，"),
                 "详情 https://bit.ly/3xYz", "link https://bit.ly/3xYz is not on the study's domain",
                 id="foreign-link"),
    pytest.param(("的研究访视。\n", "的研究访视。" + "请准时到达。" * 90 + "\n"),
                 "的研究访视。请准时", "over the 500 of one text", id="text-too-long"),
    pytest.param(("code: SMS_900000047", "code: 900000047"), "code: 900000047", "is not a template code",
                 id="bad-code"),
    pytest.param(("code: SMS_900000048", "code: SMS_900000047 "), "code: SMS_900000047 ",
                 "SMS_900000047 is already the code of reply_reschedule (zh-CN)", id="code-used-twice"),
]


@pytest.mark.parametrize(("change", "where", "reason"), MISTAKES)
def test_each_planted_mistake_names_file_line_and_reason(runner, tmp_path, change, where, reason):
    path, text = plant(tmp_path, *change)
    result = runner.invoke(args=["sms", "templates", "check", str(path)])
    assert result.exit_code == 1, result.output
    expected = f"{path}:{line_of(text, where)}:"
    lines = [line for line in result.output.splitlines() if reason in line]
    assert lines, result.output
    assert lines[0].startswith(expected), (lines, expected)


def test_a_missing_kind_is_named(runner, tmp_path):
    head, _, _ = SHIPPED.partition("  reply_reschedule:\n")
    path = tmp_path / "templates.yaml"
    path.write_text(head, encoding="utf-8")
    result = runner.invoke(args=["sms", "templates", "check", str(path)])
    assert result.exit_code == 1
    assert f"{path}:{line_of(head, 'kinds:')}: kinds: no template for reply_reschedule in zh-CN" in result.output
    assert "no template for reply_reschedule in en" in result.output


def test_export_writes_every_wording_for_the_approval_form(runner):
    result = runner.invoke(args=["sms", "templates", "export", "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    kinds = app_kinds()
    assert len(rows) == sum(len(languages) for languages in kinds.values())
    welcome = next(r for r in rows if r["kind"] == "welcome" and r["language"] == "zh-CN")
    assert welcome["code"] == TemplateSet().get("welcome", "zh-CN").code
    assert welcome["example"].startswith("【") and "http://localhost/cal/" in welcome["example"]
    assert int(welcome["parts"]) == -(-int(welcome["characters"]) // 67)
    markdown = runner.invoke(args=["sms", "templates", "export"]).output
    assert markdown.startswith("| kind | language | code |") and "${calendar_url}" in markdown


NUDGE = {"deadline": "03-04 10:00", "title": "开始前的基本情况", "link": "{link}"}


def test_params_refuse_a_link_off_the_study_domain_and_a_too_long_value():
    templates = TemplateSet()
    _, values = templates.params_for("questionnaire_nudge", "zh-CN", NUDGE,
                                     "…请点击：https://pro.example.cn/q/abcd1234", "https://pro.example.cn")
    assert values == {"deadline": "03-04 10:00", "title": "开始前的基本情况",
                      "link": "https://pro.example.cn/q/abcd1234"}
    with pytest.raises(TemplateError, match="not a link on"):
        templates.params_for("questionnaire_nudge", "zh-CN", NUDGE,
                             "…请点击：https://evil.example/q/abcd", "https://pro.example.cn")
    with pytest.raises(TemplateError, match="over its limit"):
        templates.params_for("reply_confirmed", "zh-CN", {"date": "2026-03-02 and more"}, "", "https://pro.example.cn")


def test_the_app_refuses_to_start_on_the_aliyun_route_with_a_broken_file(tmp_path):
    path, _ = plant(tmp_path, "deadline: {kind: deadline, max: 11}", "deadline: {kind: deadline, max: 5}")
    config = {"SECRET_KEY": "x", "DATABASE_URL": "sqlite://", "SMS_TEMPLATES_FILE": str(path)}
    with pytest.raises(ConfigError, match="too long"):
        create_app({**config, "SMS_BACKEND": "twilio", "SMS_ROUTES": "+86:aliyun"}, instance_path=str(tmp_path))
    # Without Alibaba on any route the file is not needed, so it does not stop the app.
    create_app({**config, "SMS_BACKEND": "console"}, instance_path=str(tmp_path))
    with pytest.raises(ConfigError, match="PRO_SMS_ROUTES"):
        create_app({**config, "SMS_ROUTES": "+86:carrier-pigeon"}, instance_path=str(tmp_path))


def test_the_command_line_says_why_without_a_traceback(tmp_path):
    path, _ = plant(tmp_path, "deadline: {kind: deadline, max: 11}", "deadline: {kind: deadline, max: 5}")
    env = {**os.environ, "PRO_SMS_BACKEND": "aliyun", "PRO_SMS_TEMPLATES_FILE": str(path),
           "PRO_DATABASE_URL": f"sqlite:///{tmp_path / 'pro.db'}", "PRO_SECRET_KEY": "x",
           "PRO_INSTANCE_PATH": str(tmp_path)}
    cli = Path(sys.executable).with_name("pro-app")
    done = subprocess.run([str(cli), "tick"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{path}:" in done.stderr and "too long" in done.stderr
