"""OAuth 2.0 token endpoint (client credentials for the application, password grant for people) and the bearer check.

A person's token (grant_type=password with a seeded user's `<name>@sandbox.local` and the sandbox password)
makes the Web API act as that user under that user's security, as the CRM web app would; the application's
token acts as the application user, a System Administrator, unless a call impersonates with MSCRMCallerID.
"""

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
from shared.settings import PLACEHOLDER_SECRETS


def _digest(token: str) -> str:
    # Only a hash of each token is stored: the SQLite file holds nothing a reader could replay.
    return hashlib.sha256(token.encode()).hexdigest()


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


def _person(store: Store, username: str) -> str | None:
    """The enabled systemuser signing in as `username` (its domain name or primary email, any case)."""
    wanted = username.strip().casefold()
    for user in store.all_rows("systemusers"):
        names = {str(user.get(a) or "").casefold() for a in ("domainname", "internalemailaddress")}
        if wanted in names and not user.get("isdisabled"):
            return str(user["systemuserid"])
    return None


def token_router(settings: CrmSandboxSettings, store: Store) -> APIRouter:
    """POST /oauth2/token (form): client_credentials with client_id and client_secret, or password with
    client_id, username and password (a person)."""
    router = APIRouter(tags=["oauth"])
    expected_secret = settings.crm_client_secret.get_secret_value()
    user_password = settings.crm_sandbox_user_password.get_secret_value()

    def issued(client_id: str, systemuser_id: str | None = None) -> JSONResponse:
        token = secrets.token_urlsafe(32)
        ttl = settings.crm_sandbox_token_ttl_s
        store.add_token(_digest(token), client_id, time.time() + ttl, systemuser_id)
        return JSONResponse(
            {"token_type": "Bearer", "access_token": token, "expires_in": ttl},
            headers={"Cache-Control": "no-store"},
        )

    def password_grant(form: dict[str, str]) -> JSONResponse:
        client_id, username, password = (form.get(k, "") for k in ("client_id", "username", "password"))
        if not client_id or not username or not password:
            return _oauth_error(400, "invalid_request", "client_id, username and password are required.")
        if not hmac.compare_digest(client_id.encode(), settings.crm_client_id.encode()):
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        if not settings.sandbox and user_password in PLACEHOLDER_SECRETS:
            return _oauth_error(400, "invalid_grant", "The sandbox password is refused outside the sandbox.")
        user_id = _person(store, username)
        if not hmac.compare_digest(password.encode(), user_password.encode()) or user_id is None:
            message = "Error validating credentials due to invalid username or password."
            return _oauth_error(400, "invalid_grant", message)
        return issued(client_id, user_id)

    @router.post(TOKEN_PATH)
    async def issue_token(request: Request) -> JSONResponse:
        try:
            form = {k: v[0] for k, v in parse_qs((await request.body()).decode(), strict_parsing=False).items()}
        except UnicodeDecodeError:
            return _oauth_error(400, "invalid_request", "The request body is not a valid form.")
        if form.get("grant_type") == "password":
            return password_grant(form)
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(400, "unsupported_grant_type", "Only client_credentials and password are supported.")
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        if not client_id or not client_secret:
            return _oauth_error(400, "invalid_request", "client_id and client_secret are required.")
        id_ok = hmac.compare_digest(client_id.encode(), settings.crm_client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), expected_secret.encode())
        if not (id_ok and secret_ok):
            return _oauth_error(401, "invalid_client", "Client authentication failed.")
        return issued(client_id)

    return router


def require_token(request: Request, store: Store) -> str | None:
    """The systemuser a person's token signs in (None for the application's token); a 401 unless the
    request carries a bearer token this sandbox issued and still honours."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized(request, "Bearer token is missing.")
    found = store.token(_digest(token.strip()), time.time())
    if found is None:
        raise _unauthorized(request, "Bearer token is invalid or expired.")
    return found[1]


def _unauthorized(request: Request, message: str) -> ODataError:
    challenge = f'Bearer authorization_uri="{str(request.base_url).rstrip("/")}/oauth2/authorize"'
    return ODataError(401, UNAUTHORIZED, message, {"WWW-Authenticate": challenge})
