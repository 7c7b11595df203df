"""SMS wording in zh-CN and English: neutral, no diagnosis, no drug, no answers."""

from datetime import date
from functools import cache

from babel.dates import format_date

TEXTS = {
    "welcome": {
        "zh-CN": "【{site}】您好，您已开始接收研究访视提醒短信。订阅访视日历（改期自动更新）：{webcal_url} "
                 "或打开 {calendar_url} "
                 "更改提醒时间或短信语言：{preferences_url} "
                 "需要输血时，请先告诉医院您正在参加本研究（可能影响配血检测）。"
                 "回复 HELP 获取帮助，回复 退订 或 STOP 停止接收。",
        "en": "{site}: you will now get study visit reminders by text. Subscribe to the visit calendar "
              "(it follows any change): {webcal_url} or open {calendar_url} Reminder time or language: "
              "{preferences_url} Before any blood transfusion, "
              "tell the hospital you are in this study (it can affect blood-matching tests). "
              "Reply HELP for help, STOP to stop.",
    },
    "visit_reminder": {
        "zh-CN": "【{site}】研究访视提醒：{when}（{date} {weekday}）{time}{zone_note}，地点：{place}。{preparation}"
                 "回复 1 确认，回复 2 需要改期。",
        "en": "{site}: study visit {when}, {weekday} {date} at {time}{zone_note}, {place}. {preparation}"
              "Reply 1 to confirm or 2 to ask for another date.",
    },
    "visit_moved": {
        "zh-CN": "【{site}】访视改期：原定 {old_date} 的{visit_name}改为 {date}（{weekday}）{time}{zone_note}，"
                 "地点：{place}。回复 1 确认，回复 2 需要改期。",
        "en": "{site}: visit changed. Your {visit_name} on {old_date} is now on {weekday} {date} at {time}"
              "{zone_note}, {place}. Reply 1 to confirm or 2 to ask for another date.",
    },
    "visit_cancelled": {
        "zh-CN": "【{site}】访视取消：原定 {date}（{weekday}）{time}{zone_note}的{visit_name}已取消，请不要前来。"
                 "研究团队会与您联系。",
        "en": "{site}: visit cancelled. Your {visit_name} on {weekday} {date} at {time}{zone_note} is cancelled; "
              "please do not come in. The study team will be in touch.",
    },
    "visit_added": {
        "zh-CN": "【{site}】新增访视：{date}（{weekday}）{time}{zone_note}，{visit_name}，地点：{place}。"
                 "回复 1 确认，回复 2 需要改期。",
        "en": "{site}: new study visit: {visit_name} on {weekday} {date} at {time}{zone_note}, {place}. "
              "Reply 1 to confirm or 2 to ask for another date.",
    },
    "questionnaire_invite": {
        "zh-CN": "【{site}】您好，请在 {deadline} 前填写问卷“{title}”：{link} "
                 "如身体不适，请不要等问卷，直接联系研究团队或去急诊。",
        "en": "{site}: please fill in \"{title}\", a short questionnaire, before {deadline}: {link} "
              "If you feel unwell, do not wait for the questionnaire: call the study team or go to an "
              "emergency department.",
    },
    "questionnaire_nudge": {
        "zh-CN": "【{site}】提醒：问卷“{title}”将在 {deadline} 截止，还没填写的话请点击：{link}",
        "en": "{site}: reminder, \"{title}\" closes at {deadline}. If you have not filled it in yet: {link}",
    },
    # Invitations due together for one contact: one text, one link to the list of them.
    "questionnaire_invites": {
        "zh-CN": "【{site}】您好，有 {count} 份问卷请您填写：{titles}。最早的一份在 {deadline} 截止，点击填写：{link} "
                 "如身体不适，请不要等问卷，直接联系研究团队或去急诊。",
        "en": "{site}: {count} short questionnaires are ready for you: {titles}. The first closes at {deadline}: "
              "{link} If you feel unwell, do not wait for the questionnaires: call the study team or go to an "
              "emergency department.",
    },
    "staff_alert": {
        "zh-CN": "【{site}】{severity}警报 {study_id}（第{notice}次通知）：请查看 {url}",
        "en": "{site}: {severity} alert {study_id} (notice {notice}): {url}",
    },
    "staff_route_stopped": {
        "zh-CN": "【{site}】短信通道 {route} 已停止（{code}），该通道的短信正在等待发送。请查看 {url}",
        "en": "{site}: text route {route} stopped ({code}); its texts are waiting. See {url}",
    },
    "staff_rota_gap": {
        "zh-CN": "【{site}】值班表在未来24小时内有空档，届时红色警报无人值守。请查看 {url}",
        "en": "{site}: the on-call rota has a gap in the next 24 hours; red alerts would reach no one on call. "
              "See {url}",
    },
    "reply_help": {
        "zh-CN": "【{site}】如有疑问请致电研究团队：{phone}。紧急情况请立即前往急诊。回复 退订 或 STOP 停止接收短信。",
        "en": "{site}: questions? Call the study team on {phone}. In an emergency go to the nearest "
              "emergency department now. Reply STOP to stop texts.",
    },
    "staff_reply": {
        "zh-CN": "【{site}】研究团队回复：{text}",
        "en": "{site} study team: {text}",
    },
    "reply_opt_out": {
        "zh-CN": "【{site}】您已退订，不会再收到研究短信。回复 START 可重新接收。如有疑问请致电 {phone}。",
        "en": "{site}: you will get no more study texts. Reply START to get them again. Questions: call {phone}.",
    },
    "reply_ack": {
        "zh-CN": "【{site}】已收到您的短信，研究团队会在工作时间（{hours}）回复。"
                 "急事请致电 {phone}；紧急情况请立即前往急诊。",
        "en": "{site}: we have your text; the study team answers in office hours ({hours}). "
              "If it cannot wait, call {phone}; in an emergency go to the nearest emergency department now.",
    },
    "reply_opt_in": {
        "zh-CN": "【{site}】您将重新接收研究提醒短信。回复 退订 或 STOP 可随时停止。",
        "en": "{site}: you will get study reminder texts again. Reply STOP at any time to stop.",
    },
    "reply_language": {
        "zh-CN": "【{site}】好的，以后的研究短信将使用中文。回复 EN 可改为英文。",
        "en": "{site}: OK, your study texts will now be in English. Reply 中文 for Chinese.",
    },
    "reply_evening_time": {
        "zh-CN": "【{site}】好的，访视前一天晚上的提醒将在 {time} 发送。",
        "en": "{site}: OK, reminders on the evenings before a visit will now come at {time}.",
    },
    "reply_evening_choices": {
        "zh-CN": "【{site}】访视前一天晚上的提醒可以在这些时间发送：{times}。例如回复 时间 19",
        "en": "{site}: reminders on the evenings before a visit can come at {times}. Reply e.g. TIME 19",
    },
    "reply_confirmed": {
        "zh-CN": "【{site}】谢谢，已确认您 {date} 的研究访视。",
        "en": "{site}: thank you, your study visit on {date} is confirmed.",
    },
    "reply_reschedule": {
        "zh-CN": "【{site}】已收到，研究团队会联系您重新安排访视时间。",
        "en": "{site}: thank you, the study team will contact you to find another date.",
    },
}

# The visit type leads the preparation, so an infusion day never reads like a marrow aspirate.
PREPARATION = {
    ("infusion", "zh-CN"): "本次为输注日，请按研究团队的指示服药。",
    ("infusion", "en"): "Infusion day: take your medicines as instructed by your study team. ",
    ("infusion-first", "zh-CN"): "本次为首次输注日，需要大半天；请按研究团队的指示服药。",
    ("infusion-first", "en"): "First infusion day, it takes most of the day: take your medicines as "
                              "instructed by your study team. ",
    ("marrow", "zh-CN"): "本次为骨髓穿刺：请按研究团队的说明空腹并做好镇静准备，并由一名成人陪同。",
    ("marrow", "en"): "Marrow aspirate: follow your study team's fasting and sedation instructions and "
                      "come with an adult. ",
    ("other", "zh-CN"): "",
    ("other", "en"): "",
}

#: A visit's type as a change text names it.
VISIT_NAMES = {
    ("infusion", "zh-CN"): "输注", ("infusion", "en"): "infusion",
    ("marrow", "zh-CN"): "骨髓穿刺", ("marrow", "en"): "marrow aspirate",
    ("other", "zh-CN"): "研究访视", ("other", "en"): "study visit",
}

#: The visit's day as the family hears it on the day a reminder goes (its step's days before).
WHEN = {
    "zh-CN": {0: "今天", 1: "明天", 2: "后天"},
    "en": {0: "today", 1: "tomorrow", 2: "in 2 days"},
}
WHEN_LATER = {"zh-CN": "{days}天后", "en": "in {days} days"}


def when_words(language, days_before):
    """Say how far off a visit is, in one language: today, tomorrow, in 2 days, in N days."""
    return WHEN[language].get(days_before) or WHEN_LATER[language].format(days=days_before)


ZONE_NOTE = {"zh-CN": "（{zone}时间）", "en": " ({zone} time)"}


class Wording(str):
    """A rendered text that remembers its kind and parameters.

    The outbox stores them beside the body: providers that only send approved templates
    (Alibaba Cloud in mainland China) fill in their own wording from the parameters.
    """

    def __new__(cls, text, kind, params):
        obj = super().__new__(cls, text)
        obj.kind, obj.params = kind, params
        return obj


def render(template, language, **params):
    """Fill in one SMS template in one language."""
    return Wording(TEXTS[template][language].format(**params), template, params)


@cache
def weekday_name(day, language):
    """Return the name of a day of the week (a date's weekday(), Monday 0) in a language."""
    return format_date(date(2024, 1, 1 + day), "EEEE", locale="zh_Hans_CN" if language == "zh-CN" else "en")


def visit_params(language, local_start, visit_zone, contact_zone, preparation_key, *, days_before=0,
                 place=""):
    """Return the parameters of a visit reminder for one contact."""
    return {
        "when": when_words(language, days_before),
        "place": place,
        "date": local_start.strftime("%Y-%m-%d"),
        "weekday": weekday_name(local_start.weekday(), language),
        "time": local_start.strftime("%H:%M"),
        "zone_note": "" if visit_zone == contact_zone else ZONE_NOTE[language].format(zone=visit_zone),
        "preparation": PREPARATION[(preparation_key, language)],
        # Approved templates cannot carry free preparation text: one template per visit type.
        "visit_type": preparation_key,
    }
