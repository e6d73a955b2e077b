"""Sync filters as the admin API shows them, and a candidate filter's preview against the records a user may read.

Pure: the routes read the filters, the user's identity and the readable records (filters_reader.py) and pass
them in. A filter applies when it is enabled and inside the FetchXML subset (shared.fetchxml); the scope of an
entity for a user is the union of the filters that apply (sync-semantics section 3), which is what the preview
compares the candidate with.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.admin_api.filters_schemas import (
    ComparedFilter,
    ConditionView,
    FilterGroupView,
    FilterPreview,
    FilterPreviewRequest,
    FilterView,
    ParsedQuery,
    PreviewRecord,
)
from shared.crm.filters import SyncFilter
from shared.fetch_match import Identity, matches
from shared.fetchxml import FetchQuery, FetchXmlError, FilterGroup, parse

Record = Mapping[str, object]


@dataclass(frozen=True)
class Applied:
    """A filter that applies, with its parsed query."""

    filter: SyncFilter
    query: FetchQuery


def group_view(group: FilterGroup) -> FilterGroupView:
    return FilterGroupView(
        type=group.kind,
        conditions=[ConditionView(attribute=c.attribute, operator=c.operator, values=list(c.values))
                    for c in group.conditions],
        filters=[group_view(g) for g in group.groups],
    )  # fmt: skip


def query_view(query: FetchQuery) -> ParsedQuery:
    return ParsedQuery(entity=query.entity, filter=group_view(query.filter) if query.filter else None)


def filter_view(found: SyncFilter) -> FilterView:
    """The filter, its parsed form or why it is not applied."""
    parsed: ParsedQuery | None = None
    error: str | None = None
    operator: str | None = None
    try:
        query = parse(found.fetchxml)
    except FetchXmlError as refused:
        error, operator = str(refused), refused.operator
    else:
        if query.entity == found.entity:
            parsed = query_view(query)
        else:
            error = f"the FetchXML queries {query.entity}, the filter is for {found.entity}"
    kind = "system" if found.kind == "system" else "user"
    return FilterView(
        id=found.id, name=found.name, entity=found.entity, kind=kind, enabled=found.enabled,
        applies=found.enabled and parsed is not None, parsed=parsed, error=error, error_operator=operator,
        fetchxml=found.fetchxml,
    )  # fmt: skip


def applying(filters: Sequence[SyncFilter], entity: str) -> list[Applied]:
    """The filters of `entity` that decide scope today: enabled and parsed."""
    found: list[Applied] = []
    for candidate in filters:
        if candidate.entity != entity or not candidate.enabled or candidate.kind == "template":
            continue
        try:
            query = parse(candidate.fetchxml)
        except FetchXmlError:
            continue
        if query.entity == entity:
            found.append(Applied(candidate, query))
    return found


def candidate_query(request: FilterPreviewRequest) -> FetchQuery:
    """The candidate's query; FetchXmlError (naming the operator or element) when it is outside the subset."""
    query = parse(request.fetchxml)
    if query.entity != request.entity:
        raise FetchXmlError(f"the FetchXML queries {query.entity}, the preview is for {request.entity}")
    return query


def preview(
    request: FilterPreviewRequest, user_id: str, who: Identity, query: FetchQuery, today: Sequence[Applied],
    records: Sequence[Record], key: str, name_attribute: str,
) -> FilterPreview:  # fmt: skip
    """The candidate's records (one page), and how many would enter and leave against today's filters."""
    matched = [r for r in records if matches(query, r, who)]
    brought = {str(r[key]) for r in records if any(matches(a.query, r, who) for a in today)}
    ids = {str(r[key]) for r in matched}
    ordered = sorted(matched, key=lambda r: (str(r.get(name_attribute) or "").casefold(), str(r[key])))
    start = (request.page - 1) * request.page_size
    page = [PreviewRecord(id=str(r[key]), name=_name(r.get(name_attribute)))
            for r in ordered[start:start + request.page_size]]  # fmt: skip
    return FilterPreview(
        mailbox=request.mailbox, user_id=user_id, entity=request.entity, parsed=query_view(query), total=len(matched),
        page=request.page, page_size=request.page_size, records=page, readable=len(records),
        current_total=len(brought), entering=len(ids - brought), leaving=len(brought - ids),
        compared_with=[ComparedFilter(id=a.filter.id, name=a.filter.name,
                                      kind="system" if a.filter.kind == "system" else "user") for a in today],
    )  # fmt: skip


def _name(value: object) -> str | None:
    return None if value is None else str(value)
