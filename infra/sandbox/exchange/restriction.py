"""FindItem restrictions evaluated against stored fields (pure; the subset exchangelib's filter() emits)."""

from __future__ import annotations

import operator
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from infra.sandbox.exchange.item_codec import Fields, field_value
from infra.sandbox.exchange.soap import EwsError, t

_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "IsEqualTo": operator.eq,
    "IsNotEqualTo": operator.ne,
    "IsGreaterThan": operator.gt,
    "IsGreaterThanOrEqualTo": operator.ge,
    "IsLessThan": operator.lt,
    "IsLessThanOrEqualTo": operator.le,
}


def _comparable(text: str) -> Any:
    """Datetimes compare as instants, numbers as numbers, text case-insensitively (as Exchange does)."""
    stripped = text.strip()
    if "T" in stripped and stripped[:4].isdigit():
        try:
            value = datetime.fromisoformat(stripped)
            return (0, value if value.tzinfo else value.replace(tzinfo=UTC))
        except ValueError:
            pass
    for kind in (int, float):
        try:
            return (1, kind(stripped))
        except ValueError:
            continue
    return (2, stripped.casefold())


def _constant(elem: etree._Element) -> str:
    holder = elem.find(t("FieldURIOrConstant"))
    constant = holder.find(t("Constant")) if holder is not None else elem.find(t("Constant"))
    if constant is None:
        raise EwsError("ErrorUnsupportedQueryFilter", "Only comparisons with a constant are supported.")
    value: str = constant.get("Value", "")
    return value


def _path(elem: etree._Element) -> etree._Element:
    for child in elem:
        if isinstance(child.tag, str) and etree.QName(child).localname.endswith("FieldURI"):
            return child
    raise EwsError("ErrorUnsupportedQueryFilter", "The restriction names no property.")


_LOGICAL = {"Restriction", "And", "Or", "Not"}


def validate(node: etree._Element) -> None:
    """Refuse an unsupported restriction up front, even when the folder is empty."""
    kind = etree.QName(node).localname
    if kind in _LOGICAL:
        for child in node:
            if isinstance(child.tag, str):
                validate(child)
        return
    if kind not in _COMPARISONS and kind not in ("Exists", "Contains"):
        raise EwsError("ErrorUnsupportedQueryFilter", f"Restriction {kind} is not supported.")
    _path(node)
    if kind != "Exists":
        _constant(node)


def matches(node: etree._Element, fields: Fields) -> bool:
    kind: str = etree.QName(node).localname
    children = [child for child in node if isinstance(child.tag, str)]
    if kind == "Restriction":
        return all(matches(child, fields) for child in children)
    if kind == "And":
        return all(matches(child, fields) for child in children)
    if kind == "Or":
        return any(matches(child, fields) for child in children)
    if kind == "Not":
        return not matches(children[0], fields)
    if kind == "Exists":
        return field_value(fields, _path(node)) is not None
    if kind in _COMPARISONS:
        value = field_value(fields, _path(node))
        if value is None:
            return kind == "IsNotEqualTo"
        left, right = _comparable(value), _comparable(_constant(node))
        if left[0] != right[0]:
            left, right = (2, value.casefold()), (2, _constant(node).strip().casefold())
        return _COMPARISONS[kind](left, right)
    if kind == "Contains":
        value = field_value(fields, _path(node))
        needle = _constant(node)
        if value is None:
            return False
        if node.get("ContainmentComparison", "Exact") != "Exact":
            value, needle = value.casefold(), needle.casefold()
        mode = node.get("ContainmentMode", "Substring")
        if mode == "FullString":
            return value == needle
        if mode == "Prefixed":
            return value.startswith(needle)
        return needle in value
    raise EwsError("ErrorUnsupportedQueryFilter", f"Restriction {kind} is not supported.")
