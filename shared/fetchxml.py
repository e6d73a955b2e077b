"""The FetchXML subset that sync filters use, parsed into a frozen query; anything outside it is refused. Pure.

Dynamics stores a sync filter (a `userquery` or `savedquery`) as FetchXML. fieldsync evaluates the filter
itself (shared.fetch_match), so it reads only what it can evaluate exactly: one `<entity>`, its `<filter>`s
(nested, `and`/`or`) and their `<condition>`s with the operators in OPERATORS. `<attribute>`,
`<all-attributes>` and `<order>` are accepted and ignored (they choose columns and order, never rows; every
filter Dynamics writes carries them). Any other element, operator or condition form (`link-entity`,
`valueof`, `entityname`, an aggregate) is refused with FetchXmlError naming it: a filter fieldsync cannot
evaluate exactly is reported as not applied, never half applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree

# Operators with exactly one value, with a list of values, and with none (the user context supplies it).
SINGLE = frozenset({"eq", "ne", "like", "gt", "ge", "lt", "le", "on-or-after", "on-or-before"})
LISTED = frozenset({"in", "not-in"})
NO_VALUE = frozenset({"null", "not-null", "eq-userid", "ne-userid", "eq-userteams", "eq-useroruserteams",
                      "eq-businessid"})
OPERATORS = SINGLE | LISTED | NO_VALUE

# Children that choose columns or order, not rows: accepted and ignored.
_IGNORED = frozenset({"attribute", "all-attributes", "order"})
# Filters nest at most this deep: a bound on the recursion, far beyond what a person writes.
MAX_DEPTH = 32
# Condition attributes that only label the value for a UI (lookups carry them in stored filters).
_LABELS = frozenset({"attribute", "operator", "value", "uiname", "uitype", "uihidden"})


class FetchXmlError(ValueError):
    """A filter outside the subset: the message names the operator or element; `operator` is set for operators."""

    def __init__(self, message: str, operator: str | None = None) -> None:
        super().__init__(message)
        self.operator = operator


@dataclass(frozen=True)
class Condition:
    attribute: str
    operator: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class FilterGroup:
    kind: Literal["and", "or"]
    conditions: tuple[Condition, ...]
    groups: tuple[FilterGroup, ...]


@dataclass(frozen=True)
class FetchQuery:
    entity: str
    filter: FilterGroup | None


def parse(fetchxml: str) -> FetchQuery:
    """The query of one sync filter, or FetchXmlError saying what is outside the subset."""
    if "<!DOCTYPE" in fetchxml.upper() or "<!ENTITY" in fetchxml.upper():
        raise FetchXmlError("FetchXML may not declare a DOCTYPE or entities")
    try:
        root = ElementTree.fromstring(fetchxml)
    except ElementTree.ParseError as error:
        raise FetchXmlError(f"malformed FetchXML: {error}") from None
    if root.tag != "fetch":
        raise FetchXmlError(f"the root element must be <fetch>, not <{root.tag}>")
    entities = list(root)
    for child in entities:
        if child.tag != "entity":
            raise FetchXmlError(f"unsupported element <{child.tag}> in <fetch>")
    if len(entities) != 1:
        raise FetchXmlError(f"<fetch> must hold exactly one <entity>, found {len(entities)}")
    return _entity(entities[0])


def _entity(element: ElementTree.Element) -> FetchQuery:
    name = _required(element, "name")
    filters: list[FilterGroup] = []
    for child in element:
        if child.tag == "filter":
            filters.append(_filter(child, 1))
        elif child.tag not in _IGNORED:
            raise FetchXmlError(f"unsupported element <{child.tag}> in <entity name=\"{name}\">")
    if not filters:
        return FetchQuery(entity=name, filter=None)
    # Several filters directly under <entity> all apply, as Dynamics combines them.
    only = filters[0] if len(filters) == 1 else FilterGroup(kind="and", conditions=(), groups=tuple(filters))
    return FetchQuery(entity=name, filter=only)


def _filter(element: ElementTree.Element, depth: int) -> FilterGroup:
    if depth > MAX_DEPTH:
        raise FetchXmlError(f"<filter> nests deeper than {MAX_DEPTH} levels")
    kind = element.get("type", "and")
    if kind not in ("and", "or"):
        raise FetchXmlError(f"unsupported <filter type=\"{kind}\"> (only and, or)")
    conditions: list[Condition] = []
    groups: list[FilterGroup] = []
    for child in element:
        if child.tag == "condition":
            conditions.append(_condition(child))
        elif child.tag == "filter":
            groups.append(_filter(child, depth + 1))
        else:
            raise FetchXmlError(f"unsupported element <{child.tag}> in <filter>")
    return FilterGroup(kind="and" if kind == "and" else "or", conditions=tuple(conditions), groups=tuple(groups))


def _condition(element: ElementTree.Element) -> Condition:
    attribute = _required(element, "attribute")
    operator = _required(element, "operator")
    if operator not in OPERATORS:
        raise FetchXmlError(f"unsupported condition operator '{operator}' on '{attribute}'", operator)
    extra = sorted(set(element.attrib) - _LABELS)
    if extra:
        raise FetchXmlError(f"unsupported condition attribute '{extra[0]}' on '{attribute}' ({operator})", operator)
    values = _values(element, attribute, operator)
    return Condition(attribute=attribute, operator=operator, values=values)


def _values(element: ElementTree.Element, attribute: str, operator: str) -> tuple[str, ...]:
    listed: list[str] = []
    for child in element:
        if child.tag != "value":
            raise FetchXmlError(f"unsupported element <{child.tag}> in <condition> on '{attribute}'", operator)
        listed.append((child.text or "").strip())
    single = element.get("value")
    values = tuple(listed) + ((single,) if single is not None else ())
    where = f"operator '{operator}' on '{attribute}'"
    if operator in NO_VALUE and values:
        raise FetchXmlError(f"{where} takes no value", operator)
    if operator in SINGLE and len(values) != 1:
        raise FetchXmlError(f"{where} needs exactly one value, found {len(values)}", operator)
    if operator in LISTED and not values:
        raise FetchXmlError(f"{where} needs at least one <value>", operator)
    return values


def _required(element: ElementTree.Element, name: str) -> str:
    value = (element.get(name) or "").strip()
    if not value:
        raise FetchXmlError(f"<{element.tag}> needs a '{name}' attribute")
    return value
