"""CDISC ODM 1.3.2: the study's MetaDataVersion built with odmlib from the instrument versions, and
ClinicalData streamed one subject at a time.

OIDs: a study event per time point of the schedule (SE.<occasion without its week or dose>, repeated
with the occasion as its repeat key), a form per instrument version and respondent
(F.<instrument>.<version>.<SELF|PROXY>), an item group per section, an item per question. An item
keeps the plain OID I.<instrument>.<item> while its definition stays the same; a version that
changes it (type, answers, unit, range) gets I.<instrument>.<item>.<version>.
"""

import itertools
import re
from datetime import UTC
from xml.sax.saxutils import quoteattr

import odmlib.odm_1_3_2.model as ODM

from pro_app.exports.responses import answered_items, choices_of, coded, unit_of

NS = "http://www.cdisc.org/ns/odm/v1.3"
LANGS = (("en", "en"), ("zh-CN", "zh-CN"))
REPEAT = re.compile(r"-(w\d+|\d+)$")
#: Characters XML 1.0 cannot carry, even escaped (a pasted control character in free text).
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def occasion_event(occasion):
    """Return the time point an occasion belongs to: 'symptom-w12' and 'post-infusion-3' repeat one."""
    return REPEAT.sub("", occasion)


def _oid(*parts):
    return ".".join(re.sub(r"[^A-Za-z0-9_-]", "_", str(p)) for p in parts)


def _tt(container_cls, text):
    box = container_cls()
    for key, lang in LANGS:
        box.TranslatedText.append(ODM.TranslatedText(_content=text[key], lang=lang))
    return box


def _self(text):
    return text["self"] if text and "self" in text else text


def data_type(item):
    """Map an item type to an ODM DataType."""
    if item.type in ("single", "yesno", "rating"):
        return "integer"
    if item.type == "number":
        return "float" if item.decimals or item.unit == "temperature" else "integer"
    if item.type == "date":
        return "date"
    return "text"


def _signature(item):
    return (item.type, item.choices and tuple((v, label["en"]) for v, label in item.choices), item.unit, item.min,
            item.max, item.decimals)


class Metadata:
    """The OIDs of a study's instrument versions, and their MetaDataVersion built with odmlib."""

    def __init__(self, study_oid, instruments, events):
        self.study_oid = study_oid
        self.instruments = instruments
        self.events = events  # {time point: {instrument id, ...}}
        self.item_oids = {}  # (version, item id) -> OID
        signatures = {}
        for instrument in instruments:
            for item in instrument.items():
                plain = _oid("I", instrument.id, item.id)
                sig = _signature(item)
                if signatures.setdefault(plain, sig) == sig:
                    self.item_oids[(instrument.version, item.id)] = plain
                else:
                    self.item_oids[(instrument.version, item.id)] = _oid("I", instrument.id, item.id,
                                                                        instrument.version[:8])

    @staticmethod
    def form_oid(instrument, respondent):
        return _oid("F", instrument.id, instrument.version[:8], respondent.upper())

    @staticmethod
    def group_oid(instrument, section):
        return _oid("IG", instrument.id, instrument.version[:8], section.id)

    def item_oid(self, instrument, item):
        return self.item_oids[(instrument.version, item.id)]

    def study(self):
        """Build the Study element (GlobalVariables, units, MetaDataVersion) with odmlib."""
        gv = ODM.GlobalVariables(StudyName=ODM.StudyName(_content=self.study_oid),
                                 StudyDescription=ODM.StudyDescription(_content="Patient-reported outcomes"),
                                 ProtocolName=ODM.ProtocolName(_content=self.study_oid))
        units = ODM.BasicDefinitions()
        symbol = ODM.Symbol()
        symbol.TranslatedText.append(ODM.TranslatedText(_content="°C", lang="en"))
        units.MeasurementUnit.append(ODM.MeasurementUnit(OID="MU.CEL", Name="Celsius", Symbol=symbol))
        study = ODM.Study(OID=self.study_oid, GlobalVariables=gv, BasicDefinitions=units)
        study.MetaDataVersion.append(self.metadata_version())
        return study

    def metadata_version(self):
        mdv = ODM.MetaDataVersion(OID="MDV.1", Name="PRO instruments")
        protocol = ODM.Protocol()
        by_id = {}
        for instrument in self.instruments:
            by_id.setdefault(instrument.id, []).append(instrument)
        for order, (event, instrument_ids) in enumerate(sorted(self.events.items()), start=1):
            protocol.StudyEventRef.append(ODM.StudyEventRef(StudyEventOID=_oid("SE", event), OrderNumber=order,
                                                            Mandatory="No"))
            sed = ODM.StudyEventDef(OID=_oid("SE", event), Name=event, Repeating="Yes", Type="Scheduled")
            for instrument_id in sorted(instrument_ids):
                for instrument in by_id.get(instrument_id, []):
                    for respondent in instrument.respondents:
                        sed.FormRef.append(ODM.FormRef(FormOID=self.form_oid(instrument, respondent),
                                                       Mandatory="No"))
            mdv.StudyEventDef.append(sed)
        mdv.Protocol = protocol
        defined = set()
        for instrument in self.instruments:
            for respondent in instrument.respondents:
                form = ODM.FormDef(OID=self.form_oid(instrument, respondent),
                                   Name=f"{instrument.title['en']} ({respondent}, {instrument.version[:8]})",
                                   Repeating="Yes")
                for order, section in enumerate(instrument.sections, start=1):
                    form.ItemGroupRef.append(ODM.ItemGroupRef(ItemGroupOID=self.group_oid(instrument, section),
                                                              Mandatory="No", OrderNumber=order))
                mdv.FormDef.append(form)
            for section in instrument.sections:
                group = ODM.ItemGroupDef(OID=self.group_oid(instrument, section), Name=_self(section.title)["en"],
                                         Repeating="No")
                for order, item in enumerate(section.items, start=1):
                    group.ItemRef.append(ODM.ItemRef(ItemOID=self.item_oid(instrument, item), OrderNumber=order,
                                                     Mandatory="Yes" if item.required and not item.show_if
                                                     else "No"))
                mdv.ItemGroupDef.append(group)
            for item in instrument.items():
                oid = self.item_oid(instrument, item)
                if oid in defined:
                    continue
                defined.add(oid)
                mdv.ItemDef.append(self._item_def(oid, item))
                if item.type in ("single", "yesno"):
                    mdv.CodeList.append(self._code_list(oid, item))
        return mdv

    @staticmethod
    def _item_def(oid, item):
        kind = data_type(item)
        item_def = ODM.ItemDef(OID=oid, Name=item.id, DataType=kind, Question=_tt(ODM.Question, _self(item.text)))
        if kind == "text":
            item_def.Length = 2000 if item.type == "multiple" else item.max_length
        if kind == "float":
            item_def.Length, item_def.SignificantDigits = 6, max(item.decimals, 1)
        if item.type == "multiple":
            labels = "; ".join(f"{v}={label['en']}" for v, label in item.choices)
            item_def.Comment = f"Ticked answers, separated by ';' ({labels})"
        if item.type in ("single", "yesno"):
            item_def.CodeListRef = ODM.CodeListRef(CodeListOID=_oid("CL", oid))
        if item.unit == "temperature":
            item_def.MeasurementUnitRef.append(ODM.MeasurementUnitRef(MeasurementUnitOID="MU.CEL"))
        elif item.unit:
            item_def.Comment = f"Unit: {unit_of(item)}"
        if kind in ("integer", "float") and item.min is not None and item.type != "single":
            for comparator, value in (("GE", item.min), ("LE", item.max)):
                check = ODM.RangeCheck(Comparator=comparator, SoftHard="Hard")
                check.CheckValue.append(ODM.CheckValue(_content=f"{value:g}"))
                item_def.RangeCheck.append(check)
        return item_def

    @staticmethod
    def _code_list(oid, item):
        code_list = ODM.CodeList(OID=_oid("CL", oid), Name=item.id, DataType="integer")
        for value, label in choices_of(item):
            code_list.CodeListItem.append(ODM.CodeListItem(CodedValue=str(value),
                                                           Decode=_tt(ODM.Decode, label)))
        return code_list


def odm_value(item, value):
    """Write one stored answer as an ODM ItemData value."""
    code = coded(item, value)[0]
    if isinstance(code, float):
        return f"{code:g}" if item.decimals == 0 and item.unit != "temperature" else repr(code)
    return NOT_XML.sub("", str(code))


def header(study_oid, now):
    """Return the ODM root's opening tags."""
    created = now.astimezone(UTC).isoformat(timespec="seconds")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<ODM xmlns="{NS}" FileType="Snapshot" Granularity="All" ODMVersion="1.3.2" '
            f'FileOID={quoteattr(f"{study_oid}.{now:%Y%m%dT%H%M%S}")} CreationDateTime="{created}" '
            'SourceSystem="pro_app">\n')


def write_odm(out, metadata, records, versions, now):
    """Write the whole ODM file to a text handle, pausing after each subject; return the ItemData count.

    `records` come grouped by participant; each participant's (a few hundred at most) are put in
    order of time point and time here, so each subject and each time point is written once.
    """
    out.write(header(metadata.study_oid, now))
    out.write(metadata.study().to_xml_string())
    out.write(f'\n<ClinicalData StudyOID={quoteattr(metadata.study_oid)} MetaDataVersionOID="MDV.1">\n')
    count = 0
    for _participant, group in itertools.groupby(records, key=lambda r: r.participant_id):
        mine = sorted(group, key=lambda r: (r.occasion, r.answered_at, r.key))
        out.write(f"<SubjectData SubjectKey={quoteattr(mine[0].study_id)}>")
        for occasion, forms in itertools.groupby(mine, key=lambda r: r.occasion):
            out.write(f'<StudyEventData StudyEventOID={quoteattr(_oid("SE", occasion_event(occasion)))} '
                      f'StudyEventRepeatKey={quoteattr(occasion)}>')
            for record in forms:
                count += _write_form(out, metadata, record, versions.get(record.version_id))
            out.write("</StudyEventData>")
        out.write("</SubjectData>\n")
        yield
    out.write("</ClinicalData>\n</ODM>\n")
    return count


def _write_form(out, metadata, record, instrument):
    count = 0
    out.write(f'<FormData FormOID={quoteattr(metadata.form_oid(instrument, record.respondent))} '
              f'FormRepeatKey={quoteattr(record.key)}>')
    for section in instrument.sections:
        items = list(answered_items(section.items, record.answers))
        if not items:
            continue
        out.write(f"<ItemGroupData ItemGroupOID={quoteattr(metadata.group_oid(instrument, section))}>")
        for item, value in items:
            out.write(f"<ItemData ItemOID={quoteattr(metadata.item_oid(instrument, item))} "
                      f"Value={quoteattr(odm_value(item, value))}/>")
            count += 1
        out.write("</ItemGroupData>")
    out.write("</FormData>")
    return count
