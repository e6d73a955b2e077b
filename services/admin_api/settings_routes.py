"""The organisation's sync settings: `GET /api/v1/settings` (any token) and `PUT /api/v1/settings` (admins).

The settings live in the policy (shared.events.OrgSettings): a change is one new policy version with one history
entry per setting it changed (kind `setting`: who, from what, to what), published as PolicyChanged like any
policy change, so the policy service applies it in place. A PUT names any subset of the settings as a JSON
object of booleans; an unknown name or a value that is not a JSON boolean is refused whole (422, naming each
offender), and nothing is stored. Setting what is already set is a no-op (same version, `changed: false`).
Included by main.create_app with one line (`settings_api`).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import Field, TypeAdapter

from services.admin_api.context import Admin, Context, current_principal
from services.admin_api.responses import error_responses
from services.admin_api.schemas import Body
from shared.events import OrgSettings
from shared.org_settings import MEANINGS, SettingsChange, SettingsError, validated
from shared.policy_store import HistoryEntry

# The body's schema, stated in OpenAPI as the route reads it itself (to answer its own messages).
CHANGE_SCHEMA = TypeAdapter(SettingsChange).json_schema()
for _name, _property in CHANGE_SCHEMA["properties"].items():
    _property["description"] = MEANINGS[_name]


class SettingsView(Body):
    settings: OrgSettings
    meanings: dict[str, str] = Field(description="What each setting does, in a sentence")
    version: int = Field(description="The policy version the settings belong to")
    updated_at: datetime
    updated_by: str


class SettingsUpdate(SettingsView):
    changed: bool = Field(description="False when every named setting already had the value (no new version)")
    published: bool = Field(description="True when PolicyChanged for this version reached the broker")
    changes: list[HistoryEntry] = Field(description="The history entries of this change (one per setting changed)")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return error_responses(*codes, 503)


async def _requested(request: Request) -> dict[str, bool]:
    try:
        raw = json.loads(await request.body())
    except ValueError as exc:
        raise HTTPException(400, f"the body is not JSON: {exc}") from exc
    try:
        return validated(raw)
    except SettingsError as exc:
        raise HTTPException(422, str(exc)) from exc


settings_api = APIRouter(prefix="/api/v1", dependencies=[Depends(current_principal)], tags=["settings"])


@settings_api.get("/settings", response_model=SettingsView, responses=_errors())
async def get_settings(context: Context) -> SettingsView:
    """The organisation's sync settings, with the policy version they belong to (every user may view them)."""
    policy = await context.policy()
    return SettingsView(settings=policy.settings, meanings=MEANINGS, version=policy.version,
                        updated_at=policy.updated_at, updated_by=policy.updated_by)  # fmt: skip


@settings_api.put(
    "/settings",
    response_model=SettingsUpdate,
    responses=_errors(400, 403, 422),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": CHANGE_SCHEMA}}}},
)
async def put_settings(request: Request, context: Context, admin: Admin) -> SettingsUpdate:
    """Set any of the settings at once, all or nothing, as one new audited policy version (admins only)."""
    requested = await _requested(request)
    await context.policy()  # seeds version 1 if Redis was emptied
    outcome = await context.store.change([], admin.name, context.clock(), settings=requested)
    update = await context.publish(outcome, admin.name)
    policy = update.policy
    return SettingsUpdate(settings=policy.settings, meanings=MEANINGS, version=policy.version,
                          updated_at=policy.updated_at, updated_by=policy.updated_by, changed=update.changed,
                          published=update.published, changes=list(outcome.entries))  # fmt: skip
