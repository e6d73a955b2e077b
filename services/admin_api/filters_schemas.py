"""The bodies of the sync filter routes: each user's filters with their parsed form, and a filter's preview."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from services.admin_api.schemas import Body

PAGE_SIZE_CAP = 200


class ConditionView(Body):
    attribute: str
    operator: str
    values: list[str]


class FilterGroupView(Body):
    type: Literal["and", "or"]
    conditions: list[ConditionView]
    filters: list[FilterGroupView] = Field(description="Nested filters, combined with the conditions by `type`")


class ParsedQuery(Body):
    entity: str
    filter: FilterGroupView | None = Field(description="None: every record of the entity")


class FilterView(Body):
    """One sync filter as Dynamics stores it, and what fieldsync makes of it."""

    id: str
    name: str
    entity: str = Field(description="The table it filters (returnedtypecode)")
    kind: Literal["user", "system"] = Field(description="user: the user's own userquery; system: a savedquery "
                                                        "applying to every user")
    enabled: bool = Field(description="Active (statecode 0)")
    applies: bool = Field(description="Enabled and inside the FetchXML subset fieldsync evaluates: it decides scope")
    parsed: ParsedQuery | None = Field(description="The parsed FetchXML; None when it could not be parsed")
    error: str | None = Field(description="Why the FetchXML is not applied (names the operator or element)")
    error_operator: str | None = Field(description="The operator refused, when an operator was the reason")
    fetchxml: str


class MailboxFilters(Body):
    mailbox: str
    user_id: str
    filters: list[FilterView]


class FiltersPage(Body):
    mailboxes: list[MailboxFilters]


class FilterPreviewRequest(Body):
    mailbox: str = Field(description="The mailbox (its CRM user's primary email)")
    entity: str = Field(description="The entity the filter is for, e.g. contact")
    fetchxml: str = Field(description="The candidate filter's FetchXML")
    page: int = Field(default=1, ge=1)
    page_size: int = Field(default=50, ge=1, le=PAGE_SIZE_CAP)


class PreviewRecord(Body):
    id: str
    name: str | None


class ComparedFilter(Body):
    id: str
    name: str
    kind: Literal["user", "system"]


class FilterPreview(Body):
    """What the candidate filter would bring into the mailbox, under the user's privileges; nothing is changed."""

    mailbox: str
    user_id: str
    entity: str
    parsed: ParsedQuery
    total: int = Field(description="Records the candidate filter matches among those the user may read")
    page: int
    page_size: int
    records: list[PreviewRecord] = Field(description="This page of them, by primary name then id")
    readable: int = Field(description="Records of the entity the user may read (the candidate's universe)")
    current_total: int = Field(description="Records the user's enabled filters of this entity bring today")
    entering: int = Field(description="Matched by the candidate and by none of today's filters")
    leaving: int = Field(description="Brought by today's filters and not matched by the candidate: what replacing "
                                     "them with the candidate would take out of the mailbox")
    compared_with: list[ComparedFilter] = Field(description="Today's filters that apply (enabled, parsed)")
