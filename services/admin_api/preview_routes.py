"""The preview route: `POST /api/v1/policy/preview` (admins), answered by the policy service's replay.

The admin API owns the policy store, so it builds the candidate (preview.py) and sends the current policy and the
candidate to the policy service (`POST {policy_preview_url}/preview`, its faust web server), which replays the
change window through its pure rules and answers the report. Nothing is stored, published or applied: the
route reads the policy, the policy service reads the window. `preview_api(settings)` is included by
main.create_app with one line.
"""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Depends, HTTPException

from services.admin_api.context import Admin, Context, current_principal
from services.admin_api.preview import PreviewRequest, candidate
from services.admin_api.responses import error_responses
from services.admin_api.settings import AdminApiSettings
from shared.preview import PreviewReport, ReplayRequest


def preview_api(settings: AdminApiSettings) -> APIRouter:
    router = APIRouter(prefix="/api/v1", dependencies=[Depends(current_principal)], tags=["policy"])
    url = settings.policy_preview_url.rstrip("/") + "/preview"

    refusals = error_responses(400, 403, 404, 409, 422, 503)

    @router.post("/policy/preview", response_model=PreviewReport, responses=refusals)
    async def preview_policy(body: PreviewRequest, context: Context, _admin: Admin) -> PreviewReport:
        """What the candidate (the current policy with these changes) would change against the recorded recent
        traffic, per entity and field, with a sample and the sentences that explain it; nothing is applied."""
        current = await context.policy()
        asked = ReplayRequest(current=current, candidate=candidate(context.catalogue, current, body),
                              sample_size=body.sample_size)  # fmt: skip
        try:
            async with httpx.AsyncClient(timeout=settings.policy_preview_timeout_s) as http:
                answer = await http.post(url, content=asked.model_dump_json(),
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        except httpx.HTTPError as exc:
            raise HTTPException(503, f"the policy service does not answer previews at {url} "
                                     f"({type(exc).__name__}); is its web server on?") from exc  # fmt: skip
        if answer.status_code != 200:
            raise HTTPException(503, f"the policy service refused the preview: {answer.status_code} {answer.text}")
        return PreviewReport.model_validate_json(answer.content)

    return router
