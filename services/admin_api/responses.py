"""The error responses a route documents in the OpenAPI schema: 401 always (every route needs a token), then the
codes the route gives, each with the one error body (`{"detail": ...}`)."""

from __future__ import annotations

from typing import Any

from services.admin_api.schemas import ErrorBody


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody} for code in (401, *codes)}
