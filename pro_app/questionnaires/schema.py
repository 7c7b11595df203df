"""The JSON schema every instrument file must meet (checked before the semantic checks)."""

_TEXT = {
    "type": "object",
    "required": ["zh-CN", "en"],
    "additionalProperties": False,
    "properties": {"zh-CN": {"type": "string", "minLength": 1}, "en": {"type": "string", "minLength": 1}},
}
# Either one wording for everyone, or one for the respondent and one for a caregiver answering
# for a child ("proxy").
_WORDING = {
    "oneOf": [
        _TEXT,
        {
            "type": "object",
            "required": ["self", "proxy"],
            "additionalProperties": False,
            "properties": {"self": _TEXT, "proxy": _TEXT},
        },
    ]
}
_ID = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{0,39}$"}
_CHOICE = {
    "type": "object",
    "required": ["value", "label"],
    "additionalProperties": False,
    "properties": {"value": {"type": "integer", "minimum": -1000, "maximum": 1000}, "label": _WORDING},
}
_CHOICES = {"type": "array", "minItems": 2, "maxItems": 20, "items": _CHOICE}
_CONDITION = {
    "type": "object",
    "required": ["item"],
    "additionalProperties": False,
    "minProperties": 2,
    "maxProperties": 2,
    "properties": {
        "item": _ID,
        "in": {"type": "array", "minItems": 1, "items": {"type": ["integer", "boolean"]}},
        "equals": {"type": ["integer", "boolean"]},
        "gte": {"type": "number"},
    },
}
ITEM_TYPES = ["single", "multiple", "yesno", "number", "rating", "date", "text"]

SCHEMA = {
    "type": "object",
    "required": ["id", "title", "respondents", "sections"],
    "additionalProperties": False,
    "properties": {
        "id": {"type": "string", "pattern": r"^[a-z][a-z0-9-]{1,39}$"},
        "title": _WORDING,
        "intro": _WORDING,
        "respondents": {"type": "array", "minItems": 1, "uniqueItems": True,
                        "items": {"enum": ["self", "proxy"]}},
        "choices": {"type": "object", "propertyNames": _ID, "additionalProperties": _CHOICES},
        "sections": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "title", "items"],
                "additionalProperties": False,
                "properties": {
                    "id": _ID,
                    "title": _WORDING,
                    "intro": _WORDING,
                    "items": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["id", "type", "text"],
                            "additionalProperties": False,
                            "properties": {
                                "id": _ID,
                                "type": {"type": "string"},
                                "text": _WORDING,
                                "hint": _WORDING,
                                "required": {"type": "boolean"},
                                "choices": {"oneOf": [_ID, _CHOICES]},
                                "unit": {"oneOf": [{"const": "temperature"}, _TEXT]},
                                "min": {"type": "number"},
                                "max": {"type": "number"},
                                "decimals": {"type": "integer", "minimum": 0, "maximum": 2},
                                "max_length": {"type": "integer", "minimum": 1, "maximum": 2000},
                                "show_if": _CONDITION,
                                "red_flag": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
        },
        "scores": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "label", "method", "items"],
                "additionalProperties": False,
                "properties": {
                    "id": _ID,
                    "label": _TEXT,
                    "method": {"enum": ["sum", "mean", "linear"]},
                    "items": {"type": "array", "minItems": 1, "items": _ID},
                    "range": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
                    "higher_is_better": {"type": "boolean"},
                    "reverse": {"type": "boolean"},
                    "min_answered": {"oneOf": [{"const": "half"}, {"type": "integer", "minimum": 1}]},
                },
            },
        },
        "alerts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "severity"],
                "additionalProperties": False,
                "properties": {
                    "id": _ID,
                    "severity": {"enum": ["amber", "red"]},
                    "label": _TEXT,
                    "when": _CONDITION,
                    "any_red_flag": {"const": True},
                    "worsening": {
                        "type": "object",
                        "required": ["items", "by"],
                        "additionalProperties": False,
                        "properties": {"items": {"type": "array", "minItems": 1, "items": _ID},
                                       "by": {"type": "number", "exclusiveMinimum": 0}},
                    },
                    "score_drop": {
                        "type": "object",
                        "required": ["score", "by"],
                        "additionalProperties": False,
                        "properties": {"score": _ID, "by": {"type": "number", "exclusiveMinimum": 0}},
                    },
                },
            },
        },
    },
}
