"""The OData subset the sandbox understands: errors, `$select`, `$filter`, `Prefer` (pure, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from fastapi.responses import JSONResponse

NOT_FOUND = "0x80040217"
BAD_PROPERTY = "0x80060888"
BAD_PAYLOAD = "0x80048d19"
STALE_ETAG = "0x80060882"
DUPLICATE = "0x80040237"
UNAUTHORIZED = "0x80072560"
INVALID_ARGUMENT = "0x80040203"
# Security (Web service error codes; the access check's code from "Troubleshoot Dataverse client errors"):
PRIVILEGE_DENIED = "0x80040220"  # PrivilegeDenied: the principal does not hold the privilege at all
ACCESS_DENIED = "0x80048306"  # the privilege is held but does not reach the record (-2147187962)
SECURED_UPDATE_DENIED = "0x8004F507"  # AttributePermissionUpdateIsMissingDuringUpdate
SECURED_CREATE_DENIED = "0x8004F502"  # AttributePrivilegeCreateIsMissing
EXPIRED_VERSION_STAMP = "0x80044352"  # ExpiredVersionStamp, Dataverse web service error codes
EXPIRED_VERSION_STAMP_MESSAGE = "Version stamp associated with the client has expired. Please perform a full sync."
MEDIA_TYPE = "application/json; odata.metadata=minimal"

Row = dict[str, Any]
Predicate = Callable[[Row], bool]


class ODataError(Exception):
    """An error answered in the Web API's shape: {"error": {"code": ..., "message": ...}}."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> JSONResponse:
        body = {"error": {"code": self.code, "message": self.message}}
        return JSONResponse(body, status_code=self.status, headers={"OData-Version": "4.0", **self.headers})


def bad_request(message: str, code: str = BAD_PROPERTY) -> ODataError:
    return ODataError(400, code, message)


def parse_select(raw: str | None, readable: Iterable[str], type_name: str) -> list[str] | None:
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    allowed = set(readable)
    for name in names:
        if name not in allowed:
            raise bad_request(f"Could not find a property named '{name}' on type '{type_name}'.")
    return names


def parse_prefer(headers: Iterable[str]) -> dict[str, str]:
    """`Prefer: odata.maxpagesize=10, return=representation` -> {"odata.maxpagesize": "10", ...}."""
    found: dict[str, str] = {}
    for header in headers:
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            if name:
                found[name.strip().lower()] = value.strip().strip('"')
    return found


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<guid>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12})(?![\w-])|(?P<num>-?\d+(?:\.\d+)?)(?![\w-])|(?P<paren>[()])|(?P<word>[A-Za-z_][\w.]*))"
)
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a is not None and b is not None and a > b,
    "ge": lambda a, b: a is not None and b is not None and a >= b,
    "lt": lambda a, b: a is not None and b is not None and a < b,
    "le": lambda a, b: a is not None and b is not None and a <= b,
}
_LITERALS = {"null": None, "true": True, "false": False}
_MAX_DEPTH = 32


def _tokenize(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise bad_request(f"Syntax error at position {pos} in '{text}'.")
        pos = match.end()
        kind = match.lastgroup or ""
        raw = match.group(kind)
        if kind == "str":
            tokens.append(("value", raw[1:-1].replace("''", "'")))
        elif kind == "guid":
            tokens.append(("value", raw.lower()))
        elif kind == "num":
            tokens.append(("value", float(raw) if "." in raw else int(raw)))
        elif kind == "word" and raw in _LITERALS:
            tokens.append(("value", _LITERALS[raw]))
        else:
            tokens.append((kind, raw))
    return tokens


def _fold(value: Any) -> Any:
    # Dynamics compares strings case-insensitively (its SQL collation); guids are stored lower-case.
    return value.casefold() if isinstance(value, str) else value


class _FilterParser:
    """expr := and_expr ('or' and_expr)*; and_expr := atom ('and' atom)*; atom := '(' expr ')' | cmp."""

    def __init__(self, text: str, readable: frozenset[str], type_name: str):
        self.tokens, self.pos, self.depth = _tokenize(text), 0, 0
        self.readable, self.type_name, self.text = readable, type_name, text

    def parse(self) -> Predicate:
        predicate = self._expr()
        if self.pos != len(self.tokens):
            raise bad_request(f"Syntax error: unexpected '{self.tokens[self.pos][1]}' in '{self.text}'.")
        return predicate

    def _peek(self, word: str) -> bool:
        return self.pos < len(self.tokens) and self.tokens[self.pos] == ("word", word)

    def _next(self) -> tuple[str, Any]:
        if self.pos >= len(self.tokens):
            raise bad_request(f"Syntax error: '{self.text}' ends too early.")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _expr(self) -> Predicate:
        parts = [self._and()]
        while self._peek("or"):
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else lambda row: any(p(row) for p in parts)

    def _and(self) -> Predicate:
        parts = [self._atom()]
        while self._peek("and"):
            self.pos += 1
            parts.append(self._atom())
        return parts[0] if len(parts) == 1 else lambda row: all(p(row) for p in parts)

    def _atom(self) -> Predicate:
        kind, raw = self._next()
        if (kind, raw) == ("paren", "("):
            self.depth += 1
            if self.depth > _MAX_DEPTH:  # a bounded parser: deep nesting is bad input, not a crash
                raise bad_request(f"The $filter '{self.text[:80]}...' nests too deeply.")
            inner = self._expr()
            self.depth -= 1
            if self._next() != ("paren", ")"):
                raise bad_request(f"Syntax error: missing ')' in '{self.text}'.")
            return inner
        if kind != "word":
            raise bad_request(f"Syntax error: expected a property name, found '{raw}' in '{self.text}'.")
        if raw not in self.readable:
            raise bad_request(f"Could not find a property named '{raw}' on type '{self.type_name}'.")
        op_kind, op = self._next()
        if op_kind != "word" or op not in _COMPARE:
            raise bad_request(f"Syntax error: unsupported operator '{op}' in '{self.text}'.")
        value_kind, value = self._next()
        if value_kind != "value":
            raise bad_request(f"Syntax error: expected a literal after '{op}', found '{value}'.")
        return _comparison(_COMPARE[op], raw, _fold(value))


def _comparison(compare: Callable[[Any, Any], bool], attribute: str, value: Any) -> Predicate:
    def predicate(row: Row) -> bool:
        try:
            return compare(_fold(row.get(attribute)), value)
        except TypeError:  # e.g. a string column compared with gt to a number: no match, not a 500
            return False

    return predicate


def parse_filter(raw: str | None, readable: frozenset[str], type_name: str) -> Predicate | None:
    if raw is None or not raw.strip():
        return None
    return _FilterParser(raw, readable, type_name).parse()
