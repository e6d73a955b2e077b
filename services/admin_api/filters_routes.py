"""The sync filter routes: `GET /api/v1/filters` (each user's filters, parsed) and `POST /api/v1/filters/preview`.

The preview reads the entity's records as the mailbox's user (MSCRMCallerID, so CRM leaves out what the user may
not read and nulls the secured fields they may not read), evaluates the candidate and today's filters with
shared.fetch_match, and answers; it writes nothing anywhere. `filters_api(settings)` is included by
main.create_app with one line; its lifespan builds the Web API client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request

from services.admin_api import filters, service
from services.admin_api.context import Admin, Context, current_principal
from services.admin_api.filters_reader import FilterReader, MailboxUser
from services.admin_api.filters_schemas import FilterPreview, FilterPreviewRequest, FiltersPage, MailboxFilters
from services.admin_api.responses import error_responses
from services.admin_api.settings import AdminApiSettings
from shared.crm.client import CrmClient, CrmError
from shared.fetchxml import FetchXmlError
from shared.settings import refuse_placeholders

router = APIRouter(prefix="/api/v1", dependencies=[Depends(current_principal)], tags=["filters"])
# The primary name a preview lists each record by.
_NAMES = {"contact": "fullname"}




def get_reader(request: Request) -> FilterReader:
    reader: FilterReader = request.app.state.filter_reader
    return reader


Reader = Annotated[FilterReader, Depends(get_reader)]


def _unavailable(exc: CrmError) -> HTTPException:
    return HTTPException(503, f"CRM did not answer the filter reads ({exc.status}: {exc}); try again")


async def _user(reader: FilterReader, mailbox: str) -> MailboxUser:
    user = await reader.mailbox(mailbox)
    if user is None:
        raise HTTPException(404, f"no mailbox {mailbox!r}: no enabled CRM user has that primary email")
    return user


@router.get("/filters", response_model=FiltersPage, responses=error_responses(404, 503))
async def list_filters(reader: Reader, mailbox: Annotated[str | None, Query()] = None) -> FiltersPage:
    """Each user's sync filters (their own, then the system ones) with the parsed FetchXML or the reason it is not
    applied; `applies` is what decides scope: enabled and parsed. All mailboxes when none is given."""
    try:
        users = [await _user(reader, mailbox)] if mailbox else await reader.mailboxes()
        found = [MailboxFilters(mailbox=u.mailbox, user_id=u.user_id,
                                filters=[filters.filter_view(f) for f in await reader.filters(u)])
                 for u in users]  # fmt: skip
    except CrmError as exc:
        raise _unavailable(exc) from exc
    return FiltersPage(mailboxes=found)


@router.post("/filters/preview", response_model=FilterPreview, responses=error_responses(400, 403, 404, 422, 503))
async def preview_filter(body: FilterPreviewRequest, context: Context, reader: Reader, _admin: Admin) -> FilterPreview:
    """The records the candidate filter would sync to the mailbox under its user's privileges (a page of them, and
    the total), and how many would enter and leave against the user's filters today; nothing is changed."""
    spec = service.entity_spec(context.catalogue, body.entity)  # 404 for an unknown entity
    try:
        query = filters.candidate_query(body)
    except FetchXmlError as refused:
        raise HTTPException(422, f"the filter cannot be applied: {refused}") from refused
    try:
        user = await _user(reader, body.mailbox)
        who = await reader.identity(user)
        today = filters.applying(await reader.filters(user), body.entity)
        records = await reader.readable(spec.entity_set, user)
    except CrmError as exc:
        raise _unavailable(exc) from exc
    name = _NAMES.get(body.entity, "subject")
    return filters.preview(body, user.user_id, who, query, today, records, spec.key_attribute, name)


def filters_api(settings: AdminApiSettings) -> APIRouter:
    """The filter routes with a lifespan that builds their Web API client; refuses (ValueError) a placeholder
    CRM secret outside the sandbox, as every service does."""
    refuse_placeholders(settings, settings.crm_client_secret)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        """Start: the client (it connects at the first request). Stop: close it."""
        crm = CrmClient.from_settings(settings)
        app.state.filter_reader = FilterReader(crm)
        try:
            yield
        finally:
            await crm.aclose()

    wired = APIRouter(lifespan=lifespan)
    wired.include_router(router)
    return wired
