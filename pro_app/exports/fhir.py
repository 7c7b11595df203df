"""FHIR R4 (the R4B models of fhir.resources): a Questionnaire per instrument version and a
QuestionnaireResponse per response, each built as plain data and validated by the library."""

import re

from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from pro_app.exports.responses import answered_items, unit_of

TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"
UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
MAX_DECIMALS = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces"
UCUM = "http://unitsofmeasure.org"


def canonical(base, instrument_id):
    """Return the canonical URL of an instrument's Questionnaire (the same for every version)."""
    return f"{base}/Questionnaire/{instrument_id}"


def fhir_id(text):
    """Turn a name into a FHIR id: letters, digits, '-' and '.', at most 64 characters."""
    clean = "".join(c if c.isalnum() and c.isascii() or c in "-." else "-" for c in text)
    return clean[:64]


def _zh(text_en, text_zh):
    """Return the English text with its zh-CN translation as FHIR's translation extension."""
    return {"extension": [{"url": TRANSLATION, "extension": [{"url": "lang", "valueCode": "zh-CN"},
                                                             {"url": "content", "valueString": text_zh}]}]}


def _self_text(text):
    if not text:
        return None, None
    if "self" in text:
        text = text["self"]
    return text["en"], text["zh-CN"]


def item_type(item):
    """Map an item type to the FHIR Questionnaire item type."""
    if item.type in ("single", "multiple"):
        return "choice"
    if item.type == "yesno":
        return "boolean"
    if item.type == "number":
        return "decimal" if item.decimals or item.unit == "temperature" else "integer"
    if item.type == "rating":
        return "integer"
    if item.type == "date":
        return "date"
    return "text"


def _number(kind, value):
    return {"valueDecimal": float(value)} if kind == "decimal" else {"valueInteger": int(value)}


def _enable_when(instrument, condition):
    target = instrument.item(condition.item)
    kind = item_type(target)
    if condition.gte is not None:
        value = {"answerDecimal": condition.gte} if kind == "decimal" else {"answerInteger": int(condition.gte)}
        return [{"question": target.id, "operator": ">=", **value}]
    out = []
    for v in condition.values:
        if kind == "boolean":
            out.append({"question": target.id, "operator": "=", "answerBoolean": bool(v)})
        elif kind == "choice":
            out.append({"question": target.id, "operator": "=", "answerCoding": {"code": str(v)}})
        else:
            out.append({"question": target.id, "operator": "=",
                        **{k.replace("value", "answer"): x for k, x in _number(kind, v).items()}})
    return out


def questionnaire_item(instrument, item):
    """Build one question of a Questionnaire."""
    kind = item_type(item)
    en, zh = _self_text(item.text)
    out = {"linkId": item.id, "text": en, "_text": _zh(en, zh), "type": kind, "required": item.required}
    if kind == "choice":
        out["answerOption"] = [{"valueCoding": {"code": str(v), "display": label["en"]}} for v, label in item.choices]
        if item.type == "multiple":
            out["repeats"] = True
    extensions = []
    if item.unit == "temperature":
        extensions.append({"url": UNIT, "valueCoding": {"system": UCUM, "code": "Cel", "display": "°C"}})
    elif item.unit:
        extensions.append({"url": UNIT, "valueCoding": {"display": unit_of(item)}})
    if kind in ("decimal", "integer") and item.min is not None:
        extensions.append({"url": MIN_VALUE, **_number(kind, item.min)})
        extensions.append({"url": MAX_VALUE, **_number(kind, item.max)})
    if kind == "decimal":
        extensions.append({"url": MAX_DECIMALS, "valueInteger": max(item.decimals, 1)})
    if kind == "text":
        out["maxLength"] = item.max_length
    if extensions:
        out["extension"] = extensions
    if item.show_if is not None:
        out["enableWhen"] = _enable_when(instrument, item.show_if)
        if len(out["enableWhen"]) > 1:
            out["enableBehavior"] = "any"
    return out


def questionnaire(instrument, base):
    """Return the Questionnaire (as JSON-able data) of one instrument version."""
    title_en, title_zh = instrument.title["en"], instrument.title["zh-CN"]
    resource = {
        "resourceType": "Questionnaire",
        "id": fhir_id(f"{instrument.id}-{instrument.version[:12]}"),
        "url": canonical(base, instrument.id),
        "version": instrument.version,
        "name": "".join(part.capitalize() for part in instrument.id.split("-")),
        "title": title_en, "_title": _zh(title_en, title_zh),
        "status": "active",
        "subjectType": ["Patient"],
        "item": [{
            "linkId": section.id, "text": _self_text(section.title)[0], "type": "group",
            "item": [questionnaire_item(instrument, item) for item in section.items],
        } for section in instrument.sections],
    }
    return validated(Questionnaire, resource)


def answer_values(item, value):
    """Return the FHIR answers of one stored answer (a checklist gives one per ticked choice)."""
    kind = item_type(item)
    if kind == "choice":
        labels = {v: label["en"] for v, label in item.choices}
        return [{"valueCoding": {"code": str(v), "display": labels.get(v, "")}}
                for v in (value if isinstance(value, list) else [value])]
    if kind == "boolean":
        return [{"valueBoolean": bool(value)}]
    if kind in ("decimal", "integer"):
        return [_number(kind, value)]
    if kind == "date":
        return [{"valueDate": value}]
    return [{"valueString": str(value)}]


def questionnaire_response(record, instrument, base, shapes=None):
    """Return the QuestionnaireResponse (as JSON-able data) of one response or unfinished draft.

    With `shapes` (a Shapes), a resource shaped like one already validated is not validated again.
    """
    subject = {"type": "Patient", "identifier": {"system": f"{base}/study-id", "value": record.study_id}}
    groups = []
    for section in instrument.sections:
        answered = [{"linkId": item.id, "answer": answer_values(item, value)}
                    for item, value in answered_items(section.items, record.answers)]
        if answered:
            groups.append({"linkId": section.id, "item": answered})
    resource = {
        "resourceType": "QuestionnaireResponse",
        "id": fhir_id(f"qr-{record.key}"),
        "identifier": {"system": f"{base}/response", "value": record.key},
        "questionnaire": f"{canonical(base, instrument.id)}|{instrument.version}",
        "status": "in-progress" if record.unfinished else "completed",
        "subject": subject,
        "authored": record.answered_at.isoformat(),
        "item": groups,
    }
    if record.proxy:
        # A caregiver answered for the child: known here only by a pseudonymous contact number.
        caregiver = {"type": "RelatedPerson", "display": record.contact_role,
                     "identifier": {"system": f"{base}/contact", "value": f"{record.study_id}-{record.contact_id}"}}
        resource["author"] = caregiver
        resource["source"] = caregiver
    else:
        resource["author"] = subject
        resource["source"] = subject
    if shapes is None:
        return validated(QuestionnaireResponse, resource)
    return shapes.validated(resource)


#: What fhir.resources accepts in a string or a date beyond its type, checked cheaply per resource.
FHIR_STRING = re.compile(r"[ \r\n\t\S]+")
FHIR_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _plain_content(kind, value):
    if kind == "valueString":
        return FHIR_STRING.fullmatch(value) is not None and bool(value.strip())
    if kind == "valueDate":
        return FHIR_DATE.fullmatch(value) is not None
    return True


class Shapes:
    """Validate each shape of QuestionnaireResponse once.

    Validating a resource with fhir.resources takes over a millisecond; a study's responses come
    in a few hundred shapes (instrument version, status, author, which questions answered with
    which value types), and every value of a shape is a checked number, code, yes/no, date or
    text written by the same function. So the first resource of each shape is validated in
    full; later ones only have their free text and dates checked against FHIR's patterns, and a
    resource failing that check is validated in full too.
    """

    def __init__(self):
        self.seen = set()
        self.validations = 0

    @staticmethod
    def shape(resource):
        """Return the resource's shape, or None when a text or date needs the full check."""
        answers = []
        for group in resource["item"]:
            for item in group["item"]:
                for answer in item["answer"]:
                    kind, value = next(iter(answer.items()))
                    if not _plain_content(kind, value):
                        return None
                    answers.append((group["linkId"], item["linkId"], kind))
        return (resource["questionnaire"], resource["status"], resource["author"]["type"], tuple(answers))

    def validated(self, resource):
        key = self.shape(resource)
        if key is None or key not in self.seen:
            validated(QuestionnaireResponse, resource)
            self.validations += 1
            if key is not None:
                self.seen.add(key)
        return resource


def validated(model, resource):
    """Check a resource against the FHIR model (raising if it is not valid); return it as built."""
    model.model_validate(resource)
    return resource
