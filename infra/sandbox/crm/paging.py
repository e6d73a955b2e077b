"""Opaque paging and delta tokens, and the links that carry them (pure: the clock is passed in)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode

from infra.sandbox.crm.odata import BAD_PROPERTY, ODataError, bad_request

MAX_PAGE_SIZE = 5000
TRACKING_REJECTS = ("$filter", "$orderby", "$expand", "$top")


def delta_token(version: int, now: datetime) -> str:
    """`<versionnumber>!<MM/dd/yyyy HH:mm:ss>`, the shape the documented delta links carry."""
    return f"{version}!{now:%m/%d/%Y %H:%M:%S}"


def parse_delta_token(token: str) -> int:
    version, bang, _ = token.partition("!")
    if not bang or not version.isdigit():
        raise ODataError(400, BAD_PROPERTY, f"The delta token '{token}' is not valid.")
    return int(version)


@dataclass(frozen=True)
class TrackingCursor:
    """Where a change-tracking read stands: versions (since, upto], position (kind, version)."""

    since: int
    upto: int
    kind: int = 0
    version: int = 0
    include_deleted: bool = False

    def encode(self) -> str:
        return f"t!{self.since}!{self.upto}!{self.kind}!{self.version}!{int(self.include_deleted)}"


def parse_skiptoken(token: str) -> TrackingCursor | str:
    """A tracking cursor, or the last key of a plain page."""
    parts = token.split("!")
    if parts[0] == "p" and len(parts) == 2:
        return parts[1]
    if parts[0] == "t" and len(parts) == 6 and all(p.isdigit() for p in parts[1:]):
        since, upto, kind, version, deleted = (int(p) for p in parts[1:])
        return TrackingCursor(since, upto, kind, version, bool(deleted))
    raise bad_request(f"The $skiptoken '{token}' is not valid.")


def page_size(prefer: dict[str, str], default: int) -> int:
    raw = prefer.get("odata.maxpagesize")
    if raw is None:
        return min(default, MAX_PAGE_SIZE)
    if not raw.isdigit() or int(raw) < 1:
        raise bad_request(f"Invalid odata.maxpagesize preference '{raw}'.")
    return min(int(raw), MAX_PAGE_SIZE)


def link(collection_url: str, params: dict[str, str]) -> str:
    """A link back into the collection with these query options, `$` and `!` kept readable."""
    query = urlencode(params, quote_via=quote, safe="$,'")
    return f"{collection_url}?{query}" if query else collection_url


def context(api_url: str, entity_set: str, select: list[str] | None, suffix: str = "") -> str:
    selected = f"({','.join(select)})" if select else ""
    return f"{api_url}$metadata#{entity_set}{selected}{suffix}"


def reject_tracking_options(query: dict[str, str]) -> None:
    for option in TRACKING_REJECTS:
        if option in query:
            raise bad_request(f'The "{option}" query parameter isn\'t supported when Change Tracking is enabled.')
