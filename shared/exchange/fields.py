"""Pure translation between canonical field values (CRM Web API shape) and exchangelib item attributes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from exchangelib import Attendee, Body, Mailbox
from exchangelib.indexed_properties import EmailAddress, PhoneNumber

from shared import attachments
from shared.exchange import recurrence
from shared.exchange.codecs import (
    ADDRESS_LABELS,
    ADDRESS_PARTS,
    Attrs,
    Codec,
    FieldValueError,
    address,
    as_datetime,
    body_text,
    choice,
    format_datetime,
    indexed,
    lookup_name,
    parse_date,
    parse_datetime,
    simple,
    state_codec,
    text,
)
from shared.recurrence import RecurrenceError

__all__ = ["ADDRESS_LABELS", "ADDRESS_PARTS", "Attrs", "Codec", "FieldValueError"]  # re-exported for callers


def _fullname_write(value: Any, _current: Attrs) -> dict[str, Any]:
    if value is not None and not isinstance(value, dict):
        raise FieldValueError("fullname must be an object of firstname, middlename, lastname")
    parts = [text((value or {}).get(k)) for k in ("firstname", "middlename", "lastname")]
    names = dict(zip(("given_name", "middle_name", "surname"), parts, strict=True))
    return {**names, "display_name": " ".join(p for p in parts if p) or None}


FULLNAME = Codec(
    ("given_name", "middle_name", "surname", "display_name"),
    lambda a: {k: text(a.get(attr)) for k, attr in (("firstname", "given_name"), ("middlename", "middle_name"),
                                                     ("lastname", "surname"))},
    _fullname_write,
)

IMPORTANCE = {0: "Low", 1: "Normal", 2: "High"}
TASK_STATUS = {
    "NotStarted": (0, 2), "InProgress": (0, 3), "WaitingOnOthers": (0, 4), "Completed": (1, 5), "Deferred": (0, 7)
}
# Open 0 / Scheduled 3; statuses Exchange cannot show (completed, canceled) are written as the nearest one.
FREE_BUSY = {"Free": (0, 1), "Tentative": (0, 2), "Busy": (3, 5), "OOF": (3, 6)}


def _appointment_time_read(attrs: Attrs) -> dict[str, Any]:
    start, end, all_day = attrs.get("start"), attrs.get("end"), bool(attrs.get("is_all_day"))
    if all_day and isinstance(end, date) and not isinstance(end, datetime):
        end = end + timedelta(days=1)  # exchangelib reports an all-day end as the inclusive last day
    minutes = None
    if start is not None and end is not None:
        minutes = int((as_datetime(end) - as_datetime(start)).total_seconds() // 60)
    return {"scheduledstart": format_datetime(start), "scheduledend": format_datetime(end),
            "scheduleddurationminutes": minutes, "isalldayevent": all_day}


def _appointment_time_write(value: Any, _current: Attrs) -> dict[str, Any]:
    if not isinstance(value, dict) or not value.get("scheduledstart"):
        raise FieldValueError("appointment_time needs scheduledstart")
    start = parse_datetime(value["scheduledstart"])
    minutes = timedelta(minutes=int(value.get("scheduleddurationminutes") or 0))  # CRM may send only the duration
    end = parse_datetime(value["scheduledend"]) if value.get("scheduledend") else start + minutes
    if end < start:
        raise FieldValueError("scheduledend is before scheduledstart")
    return {"start": start, "end": end, "is_all_day": bool(value.get("isalldayevent"))}


def _attendees(attr: str) -> Codec:
    def write(value: Any, _current: Attrs) -> dict[str, Any]:
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, str) for v in value)):
            raise FieldValueError(f"{attr} must be a list of email addresses")
        return {attr: [Attendee(mailbox=Mailbox(email_address=v)) for v in value or []] or None}

    return Codec((attr,), lambda a: [x.mailbox.email_address for x in a.get(attr) or []], write)


def _percent(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100:
        raise FieldValueError(f"percentcomplete must be a number 0-100, got {value!r}")
    return Decimal(int(value))


def _yomi(part: str) -> Codec:  # PhoneticFirst/LastName are read-only in EWS: write PidLidYomi* (extended)
    ext, shown = f"yomi_{part}_name", f"phonetic_{part}_name"
    return Codec((ext, shown), lambda a: text(a.get(ext) or a.get(shown)), lambda v, _c: {ext: text(v)})


CONTACT_PHONES = {
    "assistantphone": "AssistantPhone", "fax": "BusinessFax", "telephone1": "BusinessPhone",
    "business2": "BusinessPhone2", "callback": "Callback", "company": "CompanyMainPhone", "telephone2": "HomePhone",
    "home2": "HomePhone2", "mobilephone": "MobilePhone", "telephone3": "OtherTelephone", "pager": "Pager",
}
CONTACT_TEXTS = {
    "assistantname": "assistant_name", "department": "department", "ftpsiteurl": "ftp_site",
    "governmentid": "government_id", "jobtitle": "job_title", "managername": "manager", "nickname": "nickname",
    "spousesname": "spouse_name", "websiteurl": "business_homepage",
}


def _attachments_read(attrs: Attrs) -> list[dict[str, Any]] | None:
    """The item's files as the field value. The client lists them without content; the capture (and the applier)
    put their entries, with the digest, in their place first (shared.attachment_store): an unresolved listing is
    not a value, so it reads as no files only where nothing resolved it."""
    return attachments.canonical(f for f in attrs.get("attachments") or () if isinstance(f, Mapping))


# Written by the applier through Create/DeleteAttachment (exchange_applier/attachments.py), not as an attribute:
# to_exchange leaves these fields out, neither written nor reported.
ATTACHMENTS = Codec(("attachments",), _attachments_read)
WRITTEN_APART = frozenset({attachments.KEY})
PRIORITY = simple("importance", lambda v: {n: k for k, n in IMPORTANCE.items()}.get(v or "Normal"),
                  lambda v: choice(IMPORTANCE, v, "prioritycode"))
TEXT_BODY = simple("body", body_text, lambda v: Body(text(v)))
CODECS: dict[str, dict[str, Codec]] = {
    "contact": {
        **{key: indexed("phone_numbers", PhoneNumber, "phone_number", label) for key, label in CONTACT_PHONES.items()},
        **{key: simple(attr) for key, attr in CONTACT_TEXTS.items()},
        **{f"emailaddress{n}": indexed("email_addresses", EmailAddress, "email", f"EmailAddress{n}") for n in "123"},
        **{f"address{n}_composite": address(f"address{n}", label) for n, label in ADDRESS_LABELS},
        "anniversary": simple("wedding_anniversary", lambda v: v and v.isoformat(), parse_date),
        "birthdate": simple("birthday", lambda v: v and v.isoformat(), parse_date),
        "childrensnames": simple("children", lambda v: ", ".join(v) if v else None, lambda v: [text(v)]),
        "fullname": FULLNAME,
        "description": TEXT_BODY,
        "yomifirstname": _yomi("first"),
        "yomilastname": _yomi("last"),
        "parentcustomerid": lookup_name("company_name"),
    },
    "appointment": {
        "appointment_time": Codec(("start", "end", "is_all_day"), _appointment_time_read, _appointment_time_write),
        "description": TEXT_BODY,
        "prioritycode": PRIORITY,
        "location": simple("location"),
        "optionalattendees": _attendees("optional_attendees"),
        "organizer": Codec(("organizer",), lambda a: getattr(a.get("organizer"), "email_address", None)),
        "regardingobjectid": lookup_name("crm_regarding"),
        "requiredattendees": _attendees("required_attendees"),
        "appointment_status": state_codec("legacy_free_busy_status", FREE_BUSY, "Busy", {3: "Busy", 4: "Free"}),
        "subject": simple("subject"),
        attachments.KEY: ATTACHMENTS,
    },
    "task": {
        "percentcomplete": simple("percent_complete", lambda v: None if v is None else int(v), _percent),
        "actualend": Codec(("complete_date",), lambda a: format_datetime(a.get("complete_date"))),
        # exchangelib models DueDate/StartDate as dates: the time of day does not survive (midnight UTC).
        "scheduledend": simple("due_date", format_datetime, lambda v: parse_datetime(v).date()),
        "scheduledstart": simple("start_date", format_datetime, lambda v: parse_datetime(v).date()),
        "description": TEXT_BODY,
        "regardingobjectid": lookup_name("crm_regarding"),
        "status": state_codec("status", TASK_STATUS, "NotStarted", {6: "Deferred"}),
        "prioritycode": PRIORITY,
        "subject": simple("subject"),
    },
}


# Phone calls, letters and faxes have their own status reasons (entity references): Open 0 / Open 1 while open;
# Completed 1 with Made 2 (phone call), Sent 4 (letter), Completed 2 (fax); Canceled 2 with the rest. An Exchange
# task is Completed or not: a completed one reads as the entity's completed reason, any other as Open, and a
# canceled activity (no Exchange counterpart) is written as Deferred, the nearest, as for a canceled task.
COMPLETED_REASON = {"phonecall": 2, "letter": 4, "fax": 2}


def _activity_status(entity: str) -> Codec:
    done = COMPLETED_REASON[entity]

    def read(attrs: Attrs) -> dict[str, int]:
        completed = attrs.get("status") == "Completed"
        return {"statecode": 1, "statuscode": done} if completed else {"statecode": 0, "statuscode": 1}

    def write(value: Any, _current: Attrs) -> dict[str, Any]:
        if not isinstance(value, dict) or value.get("statecode") not in (0, 1, 2):
            raise FieldValueError("status needs an object with statecode 0 (open), 1 (completed) or 2 (canceled)")
        return {"status": {0: "NotStarted", 1: "Completed", 2: "Deferred"}[value["statecode"]]}

    return Codec(("status",), read, write)


# Phone calls, letters and faxes are Exchange tasks (as Dynamics syncs them): the task's pairs but % Complete.
for _entity in ("phonecall", "letter", "fax"):
    CODECS[_entity] = {key: codec for key, codec in CODECS["task"].items() if key != "percentcomplete"}
    CODECS[_entity]["status"] = _activity_status(_entity)
# Service activities are calendar items with the appointment's pairs (but attachments); all fixed to_exchange.
# Their status reasons are their own (Requested 1, Tentative 2, Pending 3, Reserved 4, In Progress 6, Arrived 7,
# Completed 8, Canceled 9, No Show 10): each is shown as the nearest free/busy state.
SERVICE_NEAREST = {3: "Busy", 4: "Busy", 7: "Busy", 8: "Free", 9: "Free", 10: "Free"}
_CALENDAR = {key: codec for key, codec in CODECS["appointment"].items() if key != attachments.KEY}
CODECS["serviceappointment"] = {
    **_CALENDAR,
    "appointment_status": state_codec("legacy_free_busy_status", FREE_BUSY, "Busy", SERVICE_NEAREST),
}


def _pattern_write(value: Any, _current: Attrs) -> dict[str, Any]:
    """A series master's recurrence with its first occurrence's start and end (shared.exchange.recurrence)."""
    try:
        return recurrence.to_ews(value)
    except RecurrenceError as exc:
        raise FieldValueError(str(exc)) from exc


def _pattern_read(attrs: Attrs) -> dict[str, Any] | None:
    try:
        return recurrence.from_ews(attrs)
    except RecurrenceError:
        return None  # a pattern Dynamics cannot hold (an instance of a task regeneration...): not a series here


# A recurring appointment is an appointment whose time is its pattern: the series master in the calendar.
_APPOINTMENT = {key: codec for key, codec in _CALENDAR.items() if key != "appointment_time"}
CODECS["recurringappointmentmaster"] = {
    **_APPOINTMENT,
    "recurrence_pattern": Codec(("recurrence", "start", "end", "is_all_day"), _pattern_read, _pattern_write),
}


@dataclass(frozen=True)
class ExchangeWrite:
    """What to set on an item: exchangelib attribute -> value, and the fields Exchange cannot take."""
    attributes: dict[str, Any]
    unmapped: tuple[str, ...] = ()
    read_only: tuple[str, ...] = ()


def read_attributes(entity: str) -> tuple[str, ...]:  # every exchangelib attribute the mapped fields read
    return tuple(dict.fromkeys(a for codec in CODECS[entity].values() for a in codec.attributes))


def to_canonical(entity: str, attrs: Attrs) -> dict[str, Any]:
    """Canonical values of every mapped field of an item, from its exchangelib attributes."""
    return {key: codec.read(attrs) for key, codec in CODECS[entity].items()}


def stored_as(entity: str, key: str, value: Any) -> Any:
    """The canonical value Exchange holds once `value` is written to field `key` (some are kept lossily, e.g.
    task dates are date-only); the value itself where the field is not written or cannot take it."""
    codec = CODECS.get(entity, {}).get(key)
    if codec is None or codec.write is None:
        return value
    try:
        return codec.read(codec.write(value, {}))
    except (TypeError, ValueError, ArithmeticError, AttributeError):
        return value


def to_exchange(entity: str, changed: Mapping[str, Any], current: Attrs | None = None) -> ExchangeWrite:
    """The attributes to write for `changed`; `current` holds the item's indexed containers to merge into."""
    merged: dict[str, Any] = dict(current or {})
    attributes: dict[str, Any] = {}
    unmapped, read_only = [], []  # fields Exchange has no property for / cannot be written
    for key, value in changed.items():
        codec = CODECS.get(entity, {}).get(key)
        if key in WRITTEN_APART and codec is not None:
            continue
        if codec is None:
            unmapped.append(key)
        elif codec.write is None:
            read_only.append(key)
        else:
            try:
                update = codec.write(value, merged)
            except (TypeError, ValueError, ArithmeticError) as exc:
                raise FieldValueError(f"{entity}.{key}: {exc}") from exc
            merged.update(update)
            attributes.update(update)
    return ExchangeWrite(attributes, tuple(unmapped), tuple(read_only))
