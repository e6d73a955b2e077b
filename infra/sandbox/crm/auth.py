"""OAuth 2.0 client-credentials token endpoint and bearer-token check of the CRM sandbox."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from infra.sandbox.crm.odata import UNAUTHORIZED, ODataError
from infra.sandbox.crm.settings import TOKEN_PATH, CrmSandboxSettings
from infra.sandbox.crm.store import Store


def _digest(token: str) -> str:
    # Only a hash of each token is stored: the SQLite file holds nothing a reader could replay.
    return hashlib.sha256(token.encode()).hexdigest()


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def token_router(settings: CrmSandboxSettings, store: Store) -> APIRouter:
    """POST /oauth2/token with grant_type=client_credentials, client_id, client_secret (form)."""
    router = APIRouter(tags=["oauth"])
    expected_secret = settings.crm_client_secret.get_secret_value()

    @router.post(TOKEN_PATH)
    async def issue_token(request: Request) -> JSONResponse:
        try:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode(), strict_parsing=False).items()}
        except UnicodeDecodeError:
            return _oauth_error(400, "invalid_request", "The request body is not a valid form.")
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported.")
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not client_secret:
            return _oauth_error(400, "invalid_request", "client_id and client_secret are required.")
        id_ok = hmac.compare_digest(client_id.encode(), settings.crm_client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), expected_secret.encode())
        if not (id_ok and secret_ok):
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        token = secrets.token_urlsafe(32)
        ttl = settings.crm_sandbox_token_ttl_s
        store.add_token(_digest(token), client_id, time.time() + ttl)
        return JSONResponse(
            {"token_type": "Bearer", "access_token": token, "expires_in": ttl},
            headers={"Cache-Control": "no-store"},
        )

    return router


def require_token(request: Request, store: Store) -> None:
    """Raise a 401 unless the request carries a bearer token this sandbox issued and still honours."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized(request, "Bearer token is missing.")
    if not store.token_valid(_digest(token.strip()), time.time()):
        raise _unauthorized(request, "Bearer token is invalid or expired.")


def _unauthorized(request: Request, message: str) -> ODataError:
    challenge = f'Bearer authorization_uri="{str(request.base_url).rstrip("/")}/oauth2/authorize"'
    return ODataError(401, UNAUTHORIZED, message, {"WWW-Authenticate": challenge})
