"""GET on an entity set: plain queries with $select/$filter/$top and paging, and change tracking.

Both see rows through the caller's `view`: a row the caller may not read is left out (its deletion is
still reported, as a deleted id tells nothing), a secured attribute the caller may not read comes back null
and `$filter` sees it as null.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from infra.sandbox.crm.annotations import Names
from infra.sandbox.crm.odata import (
    EXPIRED_VERSION_STAMP,
    EXPIRED_VERSION_STAMP_MESSAGE,
    Predicate,
    Row,
    bad_request,
    parse_filter,
)
from infra.sandbox.crm.paging import (
    TrackingCursor,
    context,
    delta_token,
    link,
    parse_delta_token,
    parse_skiptoken,
    reject_tracking_options,
)
from infra.sandbox.crm.records import show
from infra.sandbox.crm.schema import EntitySet
from infra.sandbox.crm.store import Store

SUPPORTED_OPTIONS = frozenset({"$select", "$filter", "$top", "$skiptoken", "$deltatoken"})
_SCAN_BATCH = 500
View = Callable[[Row], Row | None]


class CollectionQuery:
    """One GET on an entity set; `answer()` returns the JSON body and the extra response headers."""

    def __init__(
        self,
        store: Store,
        spec: EntitySet,
        api_url: str,
        query: dict[str, str],
        select: list[str] | None,
        tracking: bool,
        page: int,
        view: View = lambda row: row,
        names: Names | None = None,
    ):
        self.store, self.spec, self.query, self.select, self.page = store, spec, query, select, page
        self.view, self.names = view, names  # names: the lookups' annotations were asked for (annotations.py)
        self.collection_url = f"{api_url}{spec.name}"
        self.api_url = api_url
        skiptoken = query.get("$skiptoken")
        self.cursor = parse_skiptoken(skiptoken) if skiptoken else None
        self.tracking = tracking or "$deltatoken" in query or isinstance(self.cursor, TrackingCursor)
        if self.tracking:
            reject_tracking_options(query)  # first, so these options get the documented message
        for option in query:
            if option.startswith("$") and option not in SUPPORTED_OPTIONS:
                raise bad_request(f"The query parameter {option} is not supported by the sandbox.")

    def answer(self) -> tuple[dict[str, Any], dict[str, str]]:
        return self._tracked() if self.tracking else self._plain()

    def _base_params(self) -> dict[str, str]:
        return {k: v for k, v in self.query.items() if k in ("$select", "$filter", "$top")}

    def _plain(self) -> tuple[dict[str, Any], dict[str, str]]:
        predicate = parse_filter(self.query.get("$filter"), self.spec.readable, self.spec.type_name)
        top = self.query.get("$top")
        if top is not None and (not top.isdigit() or int(top) < 1):
            raise bad_request(f"Invalid value '{top}' for $top.")
        # $top wins over the page size and ends the result: no nextLink, as in Dynamics.
        limit = min(int(top), self.page) if top else self.page
        after = self.cursor if isinstance(self.cursor, str) else ""
        rows = self._scan(predicate, after, limit + 1)
        body: dict[str, Any] = {"@odata.context": context(self.api_url, self.spec.name, self.select)}
        body["value"] = [show(self.spec, r, self.select, self.names) for r in rows[:limit]]
        if len(rows) > limit and not top:
            params = {**self._base_params(), "$skiptoken": f"p!{rows[limit - 1][self.spec.key]}"}
            body["@odata.nextLink"] = link(self.collection_url, params)
        return body, {}

    def _scan(self, predicate: Predicate | None, after: str, wanted: int) -> list[Row]:
        found: list[Row] = []
        while len(found) < wanted:
            batch = self.store.rows_after(self.spec.name, after, _SCAN_BATCH)
            seen = [v for v in map(self.view, batch) if v is not None]
            found.extend(r for r in seen if predicate is None or predicate({**r, **self.spec.computed_values(r)}))
            if len(batch) < _SCAN_BATCH:
                break
            after = batch[-1][self.spec.key]
        return found[:wanted]

    def _tracked(self) -> tuple[dict[str, Any], dict[str, str]]:
        if isinstance(self.cursor, TrackingCursor):
            cursor = self.cursor
        elif "$deltatoken" in self.query:
            since = parse_delta_token(self.query["$deltatoken"])
            cursor = TrackingCursor(since, self.store.current_version(), include_deleted=True)
        else:
            cursor = TrackingCursor(0, self.store.current_version())
        if cursor.include_deleted and cursor.since < self.store.tracking_floor():
            # A delta read (or one of its pages) from before the expiry: the changes since are no longer known.
            raise bad_request(EXPIRED_VERSION_STAMP_MESSAGE, EXPIRED_VERSION_STAMP)
        changes = self.store.changes(
            self.spec.name, cursor.since, cursor.upto, (cursor.kind, cursor.version), self.page + 1
        )
        if not cursor.include_deleted:
            changes = [c for c in changes if c.row is not None]
        suffix = "/$delta" if cursor.include_deleted else ""
        body: dict[str, Any] = {"@odata.context": context(self.api_url, self.spec.name, self.select, suffix)}
        # The cursor moves over rows the caller may not read too: a page may hold fewer entries than it could.
        entries = (self._entry(c.id, None if c.row is None else self.view(c.row), c.row) for c in changes[: self.page])
        body["value"] = [e for e in entries if e is not None]
        params = {k: v for k, v in self.query.items() if k == "$select"}
        if len(changes) > self.page:
            last = changes[self.page - 1]
            after = TrackingCursor(cursor.since, cursor.upto, last.kind, last.versionnumber, cursor.include_deleted)
            body["@odata.nextLink"] = link(self.collection_url, {**params, "$skiptoken": after.encode()})
        else:
            token = delta_token(cursor.upto, datetime.now(UTC))
            body["@odata.deltaLink"] = link(self.collection_url, {**params, "$deltatoken": token})
        return body, {"Preference-Applied": "odata.track-changes"}

    def _entry(self, id_: str, seen: Row | None, stored: Row | None) -> Row | None:
        if seen is not None:
            return show(self.spec, seen, self.select, self.names)
        if stored is not None:
            return None  # a live row the caller may not read
        return {
            "@odata.context": f"{self.api_url}$metadata#{self.spec.name}/$deletedEntity",
            "id": id_,
            "reason": "deleted",
        }
