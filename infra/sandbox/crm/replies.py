"""How the Web API answers and reads: JSON replies with the OData headers, request bodies, the clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from infra.sandbox.crm.odata import BAD_PAYLOAD, MEDIA_TYPE, bad_request


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def json_reply(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        body, status_code=status, media_type=MEDIA_TYPE, headers={"OData-Version": "4.0", **(headers or {})}
    )


def no_content(headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=204, headers={"OData-Version": "4.0", **(headers or {})})


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")  # NaN and Infinity cannot be answered as JSON


async def read_body(request: Request) -> Any:
    """The JSON body; 400 for anything that is not JSON (NaN, bad UTF-8, nesting too deep included)."""
    try:
        return json.loads(await request.body(), parse_constant=_refuse_constant)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise bad_request(f"The request body is not valid JSON: {exc}", BAD_PAYLOAD) from exc


async def read_object(request: Request) -> dict[str, Any]:
    body = await read_body(request)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.", BAD_PAYLOAD)
    return body
