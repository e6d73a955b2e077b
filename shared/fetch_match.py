"""Whether one CRM record matches a parsed sync filter for one user, compared as Dynamics compares. Pure.

`record` maps logical attribute names to Web API values; a lookup is a GUID string, the canonical
{"id", "logicalname", "name"} mapping, or, for a raw Web API row, `_<name>_value`. Comparisons follow SQL
Server under Dynamics: GUIDs and strings case-insensitively (the default collation), `like` with `%`, `_`
and `[...]` wildcards, numbers as numbers, dates as instants (a date without a time is midnight UTC), and
`on-or-after`/`on-or-before` by UTC day. A missing attribute is null, and null compares as SQL's NULL: only
`null` matches it; `ne`, `not-in` and `ne-userid` do not (Advanced Find's "Does Not Equal" excludes empty
rows the same way).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from shared.fetchxml import Condition, FetchQuery, FilterGroup

_GUID = re.compile(r"^\{?[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\}?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ].*)?$")
_TRUE, _FALSE = frozenset({"1", "true"}), frozenset({"0", "false"})


@dataclass(frozen=True)
class Identity:
    """Who the filter runs as: `eq-userid`, `eq-userteams`, `eq-businessid` read it."""

    user_id: str
    team_ids: frozenset[str]
    business_unit_id: str | None


def matches(query: FetchQuery, record: Mapping[str, object], who: Identity) -> bool:
    """The record is in the filter's rows for this user (a query without a filter takes every row)."""
    return query.filter is None or _group(query.filter, record, who)


def _group(group: FilterGroup, record: Mapping[str, object], who: Identity) -> bool:
    outcomes = [_condition(c, record, who) for c in group.conditions]
    outcomes += [_group(g, record, who) for g in group.groups]
    if not outcomes:  # an empty filter restricts nothing, whatever its type
        return True
    return all(outcomes) if group.kind == "and" else any(outcomes)


def _value(record: Mapping[str, object], attribute: str) -> object:
    value = record[attribute] if attribute in record else record.get(f"_{attribute}_value")
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, str) and _GUID.match(value):
        return value.strip("{}").lower()
    return value


def _condition(condition: Condition, record: Mapping[str, object], who: Identity) -> bool:
    actual = _value(record, condition.attribute)
    operator, values = condition.operator, condition.values
    if operator == "null":
        return actual is None
    if actual is None:  # SQL NULL: no comparison holds
        return False
    if operator == "not-null":
        return True
    if operator in _PRINCIPAL:
        return _id(actual) in _PRINCIPAL[operator](who)
    if operator == "ne-userid":
        return _id(actual) != _id(who.user_id)
    if operator == "eq":
        return _equal(actual, values[0])
    if operator == "ne":
        return not _equal(actual, values[0])
    if operator == "in":
        return any(_equal(actual, v) for v in values)
    if operator == "not-in":
        return not any(_equal(actual, v) for v in values)
    if operator == "like":
        return _like(actual, values[0])
    if operator in ("on-or-after", "on-or-before"):
        day, bound = _day(actual), _day(values[0])
        if day is None or bound is None:
            return False
        return day >= bound if operator == "on-or-after" else day <= bound
    return _ordered(operator, actual, values[0])


_PRINCIPAL: dict[str, Callable[[Identity], set[str]]] = {
    "eq-userid": lambda who: {_id(who.user_id)},
    "eq-userteams": lambda who: {_id(t) for t in who.team_ids},
    "eq-useroruserteams": lambda who: {_id(who.user_id)} | {_id(t) for t in who.team_ids},
    "eq-businessid": lambda who: {_id(who.business_unit_id)} if who.business_unit_id else set(),
}


def _id(value: object) -> str:
    return str(value).strip("{}").lower()


def _equal(actual: object, literal: str) -> bool:
    """`actual` (a record value, not None) equals the FetchXML literal, compared in the value's own type."""
    if isinstance(actual, bool):
        text = literal.strip().lower()
        return (text in _TRUE) if actual else (text in _FALSE)
    if isinstance(actual, int | float):
        number = _number(literal)
        return number is not None and float(actual) == number
    text = str(actual)
    if _GUID.match(text) or _GUID.match(literal):
        return _id(text) == _id(literal)
    left, right = _instant(text), _instant(literal)
    if left is not None and right is not None:
        return left == right
    return text.casefold() == literal.casefold()


def _ordered(operator: str, actual: object, literal: str) -> bool:
    sign = _compare(actual, literal)
    if sign is None:
        return False
    return {"gt": sign > 0, "ge": sign >= 0, "lt": sign < 0, "le": sign <= 0}[operator]


def _compare(actual: object, literal: str) -> int | None:
    """-1, 0 or 1 as `actual` orders before, with or after the literal in its own type; None when they do not order."""
    if isinstance(actual, bool):
        return None
    if isinstance(actual, int | float):
        number = _number(literal)
        return None if number is None else (float(actual) > number) - (float(actual) < number)
    text = str(actual)
    left, right = _instant(text), _instant(literal)
    if left is not None and right is not None:
        return (left > right) - (left < right)
    folded, other = text.casefold(), literal.casefold()
    return (folded > other) - (folded < other)


def _like(actual: object, pattern: str) -> bool:
    return _like_regex(pattern).fullmatch(str(actual)) is not None


def _like_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE as a regex: % any run, _ one character, [abc] / [a-c] / [^abc] one of (or not of) a set."""
    out, index = [], 0
    while index < len(pattern):
        char = pattern[index]
        close = pattern.find("]", index + 2) if char == "[" else -1
        if char == "%":
            out.append(".*")
        elif char == "_":
            out.append(".")
        elif close != -1:
            body = pattern[index + 1:close]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            escaped = "".join("-" if c == "-" and 0 < i < len(body) - 1 else re.escape(c) for i, c in enumerate(body))
            out.append(f"[{'^' if negate else ''}{escaped}]")
            index = close
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _instant(text: str) -> datetime | None:
    if not _DATE.match(text.strip()):
        return None
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(value: object) -> date | None:
    moment = _instant(str(value))
    return moment.astimezone(UTC).date() if moment else None
