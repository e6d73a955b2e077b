"""The resource path of a Web API request, split into segments `name` or `name(key)` (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from infra.sandbox.crm.odata import NOT_FOUND, ODataError

_SEGMENT = re.compile(r"^(?P<name>[\w.$]+)(?:\((?P<key>[^()]*)\))?$")
_NAMED_KEY = re.compile(r"^(?P<name>\w+)=(?P<value>'(?:[^']|'')*'|@\w+|[^,]*)$")


@dataclass(frozen=True)
class Segment:
    name: str
    key: str | None = None  # what the parentheses hold; None without parentheses

    def named(self) -> dict[str, str]:
        """`LogicalName='contact'` / `Target=@p1` -> {"LogicalName": "contact"} / {"Target": "@p1"}."""
        found: dict[str, str] = {}
        for part in (self.key or "").split(","):
            match = _NAMED_KEY.match(part.strip())
            if match:
                value = match.group("value")
                found[match.group("name")] = value[1:-1].replace("''", "'") if value.startswith("'") else value
        return found


def parse_path(path: str) -> list[Segment]:
    segments: list[Segment] = []
    for raw in path.strip("/").split("/"):
        match = _SEGMENT.match(raw)
        if match is None:
            raise ODataError(404, NOT_FOUND, f"Resource not found for the segment '{raw}'.")
        segments.append(Segment(match.group("name"), match.group("key")))
    return segments
