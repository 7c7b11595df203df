"""Approved provider templates as data: load, check, export, and fill one in for a text."""

import csv
import io
import re
import string
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pro_app.datafiles import DataFileError, LocatedYaml

DEFAULT_FILE = Path(__file__).with_name("templates.yaml")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
URL = re.compile(r"https?://[^\s${}]+")
CODE = re.compile(r"SMS_[0-9]{6,20}")
#: The app's own parameters that approved templates never carry: the provider adds the
#: signature, the preparation wording is fixed per visit type, and approved templates carry only
#: https links (the https calendar link opens a page offering the webcal:// subscription).
NOT_VARIABLES = {"site", "preparation", "visit_type", "webcal_url"}
LINK_PATHS = {"link": "/q/", "calendar_url": "/cal/", "preferences_url": "/p/", "url": "/staff/alerts/"}
TOKEN_SAMPLE = "x" * 32


class TemplateError(ValueError):
    """A text that its approved template cannot carry (missing or too long variable, foreign link)."""


@dataclass(frozen=True)
class Template:
    kind: str
    language: str
    code: str
    text: str
    variables: dict

    def names(self):
        """Return the variables the wording uses, in order."""
        return list(dict.fromkeys(VARIABLE.findall(self.text)))

    def render(self, values):
        """Return the wording as the phone shows it, without the signature."""
        return VARIABLE.sub(lambda m: str(values.get(m.group(1), "")), self.text)


def kind_of(template, params):
    """Return the template kind for an outbox text: its template, per visit type for reminders."""
    variant = (params or {}).get("visit_type")
    return f"{template}/{variant}" if variant else template


def app_kinds():
    """Return every kind of text the app can send, with the variables its wording needs per language."""
    from pro_app.reminders.texts import PREPARATION, TEXTS

    kinds = {}
    for template, languages in TEXTS.items():
        needs = {lang: [f for _, f, _, _ in string.Formatter().parse(text) if f and f not in NOT_VARIABLES]
                 for lang, text in languages.items()}
        if template == "visit_reminder":
            for visit_type in sorted({key for key, _ in PREPARATION}):
                kinds[f"{template}/{visit_type}"] = needs
        else:
            kinds[template] = needs
    return kinds


def sample_value(name, rule, language, public_url, site_phone):
    """Return the longest value the app may put in a variable, to check lengths before approval."""
    kind = rule.get("kind")
    samples = {
        "date": "2026-12-31", "time": "23:59", "deadline": "12-31 23:59", "number": "2",
        "weekday": "星期三" if language == "zh-CN" else "Wednesday",
        "zone": "（America/Los_Angeles时间）" if language == "zh-CN" else " (America/Los_Angeles time)",
        "severity": "黄色" if language == "zh-CN" else "AMBER",
        "study_id": "S" * 32, "route": "aliyun", "code": "isv.BUSINESS_LIMIT_CONTROL_MINUTE",
        "phone": site_phone or "+862223909999",
        "when": "30天后" if language == "zh-CN" else "in 30 days",
        "place": "P" * 35,  # the protocol file allows 35 characters
        "title": "T" * 35,  # longer instrument titles are cut to this in texts
        "visit_name": "骨髓穿刺" if language == "zh-CN" else "marrow aspirate",
        "hours": "H" * 35,  # the protocol file allows 35 characters
        "free_text": "文" * 35,  # a nurse's reply through Alibaba is held to 35 characters
        "times": "18:00、19:00、20:00",  # the evening times a family may choose
    }
    if kind == "link":
        path = LINK_PATHS.get(name, "/")
        suffix = ".ics" if name == "calendar_url" else ""
        token = "999999" if name == "url" else TOKEN_SAMPLE
        return f"{public_url.rstrip('/')}{path}{token}{suffix}"
    return samples.get(kind)


class TemplateSet:
    """The approved templates of one file, by kind and language."""

    def __init__(self, path=None):
        self.path = str(path or DEFAULT_FILE)
        self.document = LocatedYaml(self.path)
        data = self.document.data
        if not isinstance(data, dict) or not isinstance(data.get("kinds"), dict):
            raise self.document.error([], "needs a 'kinds' mapping")
        self.limits = {"single_text": 500, "segment": 70, "segment_multi": 67, "variable": 35,
                       **(data.get("limits") or {})}
        self.kinds = data["kinds"]

    def get(self, kind, language):
        """Return the template for a kind and language, or raise TemplateError."""
        entry = self.kinds.get(kind)
        if not isinstance(entry, dict) or not isinstance(entry.get(language), dict):
            raise TemplateError(f"no approved template for {kind} in {language}")
        return Template(kind, language, str(entry[language].get("code")), str(entry[language].get("text")),
                        entry.get("variables") or {})

    def params_for(self, kind, language, params, body, public_url):
        """Return the TemplateParam values for one text; the links are taken from the text as sent."""
        template = self.get(kind, language)
        links = [u for u in URL.findall(body) if _same_site(u, public_url)]
        values = {}
        for name in template.names():
            rule = template.variables.get(name) or {}
            value = (params or {}).get(name)
            if rule.get("kind") == "link":
                if not (isinstance(value, str) and value.startswith(("http://", "https://"))):
                    value = links.pop(0) if links else None  # the token is made only when the text is sent
                if value is None or not _same_site(value, public_url):
                    raise TemplateError(f"{kind}: {name} is not a link on {public_url}")
            if value is None:
                raise TemplateError(f"{kind}: no value for {name}")
            value = str(value)
            if len(value) > int(rule.get("max", self.limits["variable"])):
                raise TemplateError(f"{kind}: {name} is {len(value)} characters, over its limit")
            values[name] = value
        return template, values

    def segments(self, length):
        """Return how many billed parts a text of this length (with its signature) is."""
        if length <= self.limits["segment"]:
            return 1
        return -(-length // self.limits["segment_multi"])


def _same_site(url, public_url):
    return urlsplit(url).netloc.lower() == urlsplit(public_url).netloc.lower()


def check(templates, *, public_url, sign_name, site_phone=None):
    """Return every mistake in a template file, each with file, line and reason."""
    doc, errors = templates.document, []
    sign = f"【{sign_name}】"
    wanted = app_kinds()
    for kind, needs in wanted.items():
        for language in needs:
            entry = templates.kinds.get(kind)
            if not isinstance(entry, dict) or language not in entry:
                path = ["kinds", kind] if isinstance(entry, dict) else ["kinds"]
                errors.append(doc.error(path, f"no template for {kind} in {language}: the app sends this text"))
    codes = {}
    for kind, entry in templates.kinds.items():
        errors.extend(_check_code_unique(templates, kind, entry, codes))
        if kind not in wanted:
            errors.append(doc.error(["kinds", kind], f"{kind} is not a kind of text the app sends"))
            continue
        if not isinstance(entry, dict):
            errors.append(doc.error(["kinds", kind], "needs variables and one entry per language"))
            continue
        variables = entry.get("variables") or {}
        errors.extend(_check_rules(templates, kind, variables))
        for language, needs in wanted[kind].items():
            lang_entry = entry.get(language)
            if not isinstance(lang_entry, dict):
                continue
            errors.extend(_check_wording(templates, kind, language, lang_entry, variables, needs,
                                         public_url=public_url, sign=sign, site_phone=site_phone))
    return errors


def _check_code_unique(templates, kind, entry, codes):
    """Each wording has a template code of its own: a reused one would send the other text's wording."""
    for language, lang_entry in (entry.items() if isinstance(entry, dict) else ()):
        code = lang_entry.get("code") if isinstance(lang_entry, dict) else None
        if not isinstance(code, str):
            continue
        if code in codes:
            yield templates.document.error(["kinds", kind, language, "code"],
                                           f"{code} is already the code of {codes[code]}")
        codes.setdefault(code, f"{kind} ({language})")


def _check_rules(templates, kind, variables):
    doc, limit = templates.document, int(templates.limits["variable"])
    for name, rule in variables.items():
        path = ["kinds", kind, "variables", name]
        if not isinstance(rule, dict) or not isinstance(rule.get("max"), int) or rule["max"] < 1:
            yield doc.error(path, "needs a kind and a max length (a whole number)")
        elif rule.get("kind") != "link" and rule["max"] > limit:
            yield doc.error(path, f"max {rule['max']} is over the provider's {limit} characters per variable")


def _check_wording(templates, kind, language, entry, variables, needs, *, public_url, sign, site_phone):
    doc = templates.document
    path = ["kinds", kind, language]
    code, text = entry.get("code"), entry.get("text")
    if not isinstance(code, str) or not CODE.fullmatch(code):
        yield doc.error(path + ["code"], f"{code!r} is not a template code (SMS_ and digits)")
    if not isinstance(text, str) or not text.strip():
        yield doc.error(path + ["text"], "needs the approved wording")
        return
    path = path + ["text"]
    used = list(dict.fromkeys(VARIABLE.findall(text)))
    for name in needs:
        if name not in used:
            yield doc.error(path, f"missing variable ${{{name}}}: the app's {language} text carries it")
    samples = {}
    for name in used:
        if name not in needs:
            yield doc.error(path, f"${{{name}}} is not a value the app gives this text")
        elif name not in variables:
            yield doc.error(path, f"${{{name}}} has no rules under variables")
        elif isinstance(variables[name], dict):
            rule = variables[name]
            sample = sample_value(name, rule, language, public_url, site_phone)
            if sample is None:
                yield doc.error(["kinds", kind, "variables", name], f"unknown variable kind {rule.get('kind')!r}")
                continue
            samples[name] = sample
            if isinstance(rule.get("max"), int) and len(sample) > rule["max"]:
                yield doc.error(path, f"${{{name}}} is too long: the app may put {len(sample)} characters "
                                      f"in it (e.g. {sample!r}), its max is {rule['max']}")
    for url in URL.findall(text):
        if not _same_site(url, public_url):
            yield doc.error(path, f"link {url} is not on the study's domain ({urlsplit(public_url).netloc})")
    rendered = sign + Template(kind, language, "", text, variables).render(samples)
    if len(rendered) > templates.limits["single_text"]:
        yield doc.error(path, f"{len(rendered)} characters with the signature, over the "
                              f"{templates.limits['single_text']} of one text")


def export_rows(templates, *, public_url, sign_name, site_phone=None):
    """Yield one row per template, as a provider's approval form asks for it."""
    for kind, entry in templates.kinds.items():
        if not isinstance(entry, dict):
            continue
        variables = entry.get("variables") or {}
        for language in ("zh-CN", "en"):
            if not isinstance(entry.get(language), dict):
                continue
            template = templates.get(kind, language)
            samples = {n: sample_value(n, variables.get(n) or {}, language, public_url, site_phone) or ""
                       for n in template.names()}
            example = f"【{sign_name}】" + template.render(samples)
            yield {
                "kind": kind, "language": language, "code": template.code,
                "signature": sign_name, "text": template.text,
                "variables": "; ".join(f"{n}: {(variables.get(n) or {}).get('kind')} "
                                       f"(max {(variables.get(n) or {}).get('max')})" for n in template.names()),
                "example": example, "characters": len(example), "parts": templates.segments(len(example)),
            }


def export(templates, fmt, **kwargs):
    """Write the wordings as CSV or a markdown table."""
    rows = list(export_rows(templates, **kwargs))
    fields = ["kind", "language", "code", "signature", "text", "variables", "example", "characters", "parts"]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()
    lines = ["| " + " | ".join(fields) + " |", "|" + "---|" * len(fields)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[f]).replace("|", "\\|") for f in fields) + " |")
    return "\n".join(lines) + "\n"


def load_checked(path, *, public_url, sign_name, site_phone=None):
    """Load a template file and raise the first mistake as a DataFileError (the app will not start)."""
    templates = TemplateSet(path)
    errors = check(templates, public_url=public_url, sign_name=sign_name, site_phone=site_phone)
    if errors:
        raise errors[0]
    return templates


__all__ = ["DataFileError", "TemplateError", "TemplateSet", "check", "export", "kind_of", "load_checked"]
