"""How one field pair reads from and writes to exchangelib attributes: the codec and its builders (pure).

shared/exchange/fields.py assembles these into each entity's table of codecs; the builders here know EWS shapes
(texts, dates, indexed containers written whole, addresses, choices, lookups shown by name), not entities.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from exchangelib import EWSDate, EWSDateTime, HTMLBody
from exchangelib.ewsdatetime import UTC as EWS_UTC
from exchangelib.indexed_properties import PhysicalAddress
from lxml import html

Attrs = Mapping[str, Any]  # exchangelib attribute name -> value, as read from or written to an item


class FieldValueError(ValueError):
    """A canonical value that cannot be written to Exchange (wrong type or shape)."""


def text(value: Any) -> str | None:
    if value is None or value == "":  # Exchange has no empty strings: canonical empty is null
        return None
    if not isinstance(value, str):
        raise FieldValueError(f"expected a string, got {type(value).__name__}")
    return value


def parse_datetime(value: Any) -> EWSDateTime:
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise FieldValueError(f"expected an ISO 8601 datetime string, got {value!r}") from exc
    if parsed.tzinfo is None:
        raise FieldValueError(f"datetime {value!r} has no time zone")
    u = parsed.astimezone(UTC)  # EWS keeps UTC; exchangelib wants its own time zone type
    return EWSDateTime(u.year, u.month, u.day, u.hour, u.minute, u.second, tzinfo=EWS_UTC)


def as_datetime(value: datetime | date) -> datetime:  # a date-only value stands for midnight UTC
    return value if isinstance(value, datetime) else datetime(value.year, value.month, value.day, tzinfo=UTC)


def format_datetime(value: datetime | date | None) -> str | None:
    return None if value is None else as_datetime(value).astimezone(EWS_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(value: Any) -> EWSDate:
    try:
        return EWSDate.from_date(date.fromisoformat(value[:10]))
    except (TypeError, ValueError) as exc:
        raise FieldValueError(f"expected a YYYY-MM-DD string, got {value!r}") from exc


def body_text(value: Any) -> str | None:
    if isinstance(value, HTMLBody) and value:  # CRM descriptions hold plain text only
        return html.fromstring(str(value)).text_content() or None
    return str(value) if value else None


@dataclass(frozen=True)
class Codec:
    """How one field pair reads from and writes to exchangelib attributes."""
    attributes: tuple[str, ...]
    read: Callable[[Attrs], Any]
    write: Callable[[Any, Attrs], dict[str, Any]] | None = None  # None: read-only in Exchange


def simple(attr: str, to_canonical: Callable[[Any], Any] = text, to_exchange: Callable[[Any], Any] = text) -> Codec:
    return Codec(
        (attr,),
        lambda attrs: to_canonical(attrs.get(attr)),
        lambda value, _current: {attr: None if value is None else to_exchange(value)},
    )


def _replace_entry(current: Attrs, attr: str, label: str, entry: Any) -> dict[str, Any]:
    """Indexed containers are written whole by exchangelib: keep every other label as it is."""
    others = [e for e in (current.get(attr) or []) if e.label != label]
    return {attr: others + ([entry] if entry is not None else [])}


def _entry(attrs: Attrs, attr: str, label: str) -> Any:  # the entry of one label, or None
    return next((e for e in (attrs.get(attr) or []) if e.label == label), None)


def indexed(attr: str, entry_type: type[Any], value_attr: str, label: str) -> Codec:  # one phone/email entry

    def write(value: Any, current: Attrs) -> dict[str, Any]:
        shown = text(value)
        return _replace_entry(current, attr, label, shown and entry_type(label=label, **{value_attr: shown}))

    return Codec((attr,), lambda a: text(getattr(_entry(a, attr, label), value_attr, None)), write)


ADDRESS_LABELS = ((1, "Business"), (2, "Home"), (3, "Other"))  # addressN_composite <-> physical_addresses label


ADDRESS_PARTS = ("line1", "line2", "line3", "city", "stateorprovince", "postalcode", "country")


def address(prefix: str, label: str) -> Codec:
    """addressN_composite: lines 1-3 join into Street (one per line); the rest map part by part."""
    names = [f"{prefix}_{part}" for part in ADDRESS_PARTS]

    def read(attrs: Attrs) -> dict[str, Any]:
        entry = _entry(attrs, "physical_addresses", label)
        lines = (getattr(entry, "street", None) or "").split("\n")
        lines = [*lines[:2], "\n".join(lines[2:])] if len(lines) > 3 else lines + [""] * (3 - len(lines))
        parts = [*lines, *(getattr(entry, a, None) for a in ("city", "state", "zipcode", "country"))]
        return {name: text(part or None) for name, part in zip(names, parts, strict=True)}

    def write(value: Any, current: Attrs) -> dict[str, Any]:
        if value is not None and not isinstance(value, dict):
            raise FieldValueError(f"{prefix}_composite must be an object of its attributes")
        parts = [text((value or {}).get(name)) for name in names]
        street = "\n".join(p or "" for p in parts[:3]).rstrip("\n") or None
        kwargs = dict(zip(("city", "state", "zipcode", "country"), parts[3:], strict=True))
        entry = PhysicalAddress(label=label, street=street, **kwargs) if street or any(parts[3:]) else None
        return _replace_entry(current, "physical_addresses", label, entry)

    return Codec(("physical_addresses",), read, write)


def choice(table: Mapping[Any, Any], value: Any, what: str) -> Any:
    if isinstance(value, bool) or value not in table:
        raise FieldValueError(f"{what} {value!r} has no Exchange counterpart")
    return table[value]


def state_codec(attr: str, table: Mapping[str, tuple[int, int]], default: str, nearest: dict[int, str]) -> Codec:
    by_status = {**nearest, **{status: name for name, (_state, status) in table.items()}}

    def read(attrs: Attrs) -> dict[str, int] | None:
        state, status = table.get(attrs.get(attr) or default, table[default])
        return {"statecode": state, "statuscode": status}

    def write(value: Any, _current: Attrs) -> dict[str, Any]:
        if not isinstance(value, dict) or "statuscode" not in value:
            raise FieldValueError(f"{attr} needs an object with statuscode")
        return {attr: choice(by_status, value["statuscode"], "statuscode")}

    return Codec((attr,), read, write)


def lookup_name(attr: str) -> Codec:
    """A CRM lookup shown in Exchange by its record's name (an activity's Regarding text, a contact's Company).

    Exchange holds the name only: read back it is {"name": ...}, which is what stored_as says a written lookup
    becomes. A typed name cannot be bound to a record, so the catalogue declares these pairs not writable in CRM.
    """

    def read(attrs: Attrs) -> dict[str, Any] | None:
        name = text(attrs.get(attr))
        return {"name": name} if name else None

    def write(value: Any, _current: Attrs) -> dict[str, Any]:
        if value is not None and not isinstance(value, dict):
            raise FieldValueError(f"a lookup is an object with id, logicalname and name, got {value!r}")
        return {attr: text((value or {}).get("name"))}

    return Codec((attr,), read, write)
