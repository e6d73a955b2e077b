"""Translation between EWS item XML and the stored JSON blob of element values (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lxml import etree

from infra.sandbox.exchange.recurrence import checked_recurrence
from infra.sandbox.exchange.soap import EwsError, T, t

Fields = dict[str, Any]

ITEM_CLASSES = {"Contact": "IPM.Contact", "CalendarItem": "IPM.Appointment", "Task": "IPM.Task", "Message": "IPM.Note"}
# Containers of entries keyed by a label (FieldIndex); values are whole <Entry> elements.
INDEXED_ENTRIES = {
    "contacts:PhoneNumber": "PhoneNumbers",
    "contacts:EmailAddress": "EmailAddresses",
    "contacts:ImAddress": "ImAddresses",
}
ADDRESS_PARTS = ("Street", "City", "State", "CountryOrRegion", "PostalCode")
# Values the server owns: a client sending them is ignored, as Exchange ignores read-only input.
SERVER_OWNED = {"ItemId", "ParentFolderId", "DateTimeCreated", "LastModifiedTime", "ItemClass", "IsComplete",
                "CalendarItemType"}
DATETIME_ELEMENTS = {
    "Start",
    "End",
    "DueDate",
    "StartDate",
    "CompleteDate",
    "Birthday",
    "WeddingAnniversary",
    "ReminderDueBy",
    "DateTimeSent",
    "DateTimeReceived",
}


# Exchange exposes the named properties PidLidYomiFirstName/LastName (PSETID_Address) as read-only
# Contact elements; clients write them as extended properties.
_PSETID_ADDRESS = "set:00062004-0000-0000-c000-000000000046"
PHONETIC_NAMES = {
    "PhoneticFirstName": f"{_PSETID_ADDRESS}|id:{0x802C}",
    "PhoneticLastName": f"{_PSETID_ADDRESS}|id:{0x802D}",
}


def empty_fields() -> Fields:
    return {"simple": {}, "indexed": {}, "addresses": {}, "extended": {}}


def _to_utc(text: str) -> str:
    """EWS keeps datetimes in UTC; exchangelib parses only the second-precision 'Z' form."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise EwsError("ErrorInvalidValueForProperty", f"Invalid datetime value {text!r}.") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def extended_key(uri: etree._Element) -> str:
    """One canonical key per extended property, however the client spelled the set and tag."""
    tag = uri.get("PropertyTag")
    if tag is not None:
        try:
            return f"tag:{int(tag, 0):#06x}"
        except ValueError as exc:
            raise EwsError("ErrorInvalidPropertyRequest", f"Invalid PropertyTag {tag!r}.") from exc
    set_id = (uri.get("DistinguishedPropertySetId") or uri.get("PropertySetId") or "").lower()
    name = uri.get("PropertyName")
    if name is not None:
        return f"set:{set_id}|name:{name}"
    try:
        return f"set:{set_id}|id:{int(uri.get('PropertyId', ''), 0)}"
    except ValueError as exc:
        raise EwsError("ErrorInvalidPropertyRequest", "ExtendedFieldURI needs a tag, a name or an id.") from exc


def _xml(elem: etree._Element) -> str:
    text: str = etree.tostring(elem, encoding="unicode")
    return text


def _store_simple(fields: Fields, child: etree._Element) -> None:
    name = etree.QName(child).localname
    if name in DATETIME_ELEMENTS and child.text:
        child = etree.fromstring(_xml(child))  # copy: never mutate the request tree
        child.text = _to_utc(child.text)
    fields["simple"][name] = _xml(child)


def merge_item_element(fields: Fields, item: etree._Element) -> Fields:
    """Fold every child element of an item (as in CreateItem or a SetItemField value) into `fields`."""
    calendar = etree.QName(item).localname == "CalendarItem"
    for child in item:
        if not isinstance(child.tag, str) or etree.QName(child).namespace != T:
            continue
        name = etree.QName(child).localname
        if name in SERVER_OWNED:
            continue
        if name == "ExtendedProperty":
            uri = child.find(t("ExtendedFieldURI"))
            if uri is None:
                raise EwsError("ErrorSchemaValidation", "ExtendedProperty without ExtendedFieldURI.")
            fields["extended"][extended_key(uri)] = _xml(child)
        elif name in INDEXED_ENTRIES.values():
            entries = fields["indexed"].setdefault(name, {})
            for entry in child.findall(t("Entry")):
                entries[entry.get("Key", "")] = _xml(entry)
        elif name == "Recurrence" and calendar:  # a series master: checked, its dates as EWS answers them
            fields["simple"][name] = _xml(checked_recurrence(child))
        elif name == "PhysicalAddresses":
            for entry in child.findall(t("Entry")):
                parts = fields["addresses"].setdefault(entry.get("Key", ""), {})
                for part in entry:
                    if isinstance(part.tag, str):
                        parts[etree.QName(part).localname] = part.text or ""
        else:
            _store_simple(fields, child)
    return fields


def delete_field(fields: Fields, uri: etree._Element) -> None:
    """Apply one DeleteItemField path (FieldURI, IndexedFieldURI or ExtendedFieldURI)."""
    kind = etree.QName(uri).localname
    if kind == "ExtendedFieldURI":
        fields["extended"].pop(extended_key(uri), None)
        return
    field_uri = uri.get("FieldURI", "")
    if kind == "IndexedFieldURI":
        label = uri.get("FieldIndex", "")
        if field_uri.startswith("contacts:PhysicalAddress:"):
            parts = fields["addresses"].get(label, {})
            parts.pop(field_uri.rsplit(":", 1)[1], None)
            if not parts:
                fields["addresses"].pop(label, None)
        elif field_uri in INDEXED_ENTRIES:
            fields["indexed"].get(INDEXED_ENTRIES[field_uri], {}).pop(label, None)
        else:
            raise EwsError("ErrorInvalidPropertyRequest", f"Unknown indexed field {field_uri!r}.")
        return
    if kind != "FieldURI" or ":" not in field_uri:
        raise EwsError("ErrorInvalidPropertyRequest", f"Unknown property path {kind}.")
    fields["simple"].pop(field_uri.split(":", 1)[1], None)


def field_value(fields: Fields, uri: etree._Element) -> str | None:
    """The text of the property a path names (for restrictions); None when absent."""
    kind = etree.QName(uri).localname
    if kind == "ExtendedFieldURI":
        raw = fields["extended"].get(extended_key(uri))
        return None if raw is None else etree.fromstring(raw).findtext(t("Value"))
    field_uri = uri.get("FieldURI", "")
    if kind == "IndexedFieldURI":
        label = uri.get("FieldIndex", "")
        if field_uri.startswith("contacts:PhysicalAddress:"):
            part: str | None = fields["addresses"].get(label, {}).get(field_uri.rsplit(":", 1)[1])
            return part
        raw = fields["indexed"].get(INDEXED_ENTRIES.get(field_uri, ""), {}).get(label)
        return None if raw is None else etree.fromstring(raw).text
    raw = fields["simple"].get(field_uri.split(":", 1)[-1])
    return None if raw is None else "".join(etree.fromstring(raw).itertext())
