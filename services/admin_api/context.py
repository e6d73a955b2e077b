"""The app's request context: wired resources, the caller's principal, and the change-then-publish step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.admin_api import service
from services.admin_api.explain_reader import ExplainReader
from services.admin_api.publisher import PolicyPublisher
from services.admin_api.schemas import PolicyUpdate
from services.admin_api.tokens import Principal, TokenRegistry
from shared.catalogue import Catalogue
from shared.conflict_log import ConflictLog
from shared.dead_letter_log import DeadLetterLog
from shared.events import Policy, PolicyChanged
from shared.policy_store import Outcome, PolicyStore

bearer = HTTPBearer(auto_error=False, description="An API token; admins change the policy, viewers read it")


@dataclass(frozen=True)
class AppContext:
    """Everything a route needs, built once by main.create_app."""

    store: PolicyStore
    conflicts: ConflictLog
    publisher: PolicyPublisher
    catalogue: Catalogue
    tokens: TokenRegistry
    clock: Callable[[], datetime]
    new_id: Callable[[], str]
    explain: ExplainReader
    letters: DeadLetterLog
    readiness_timeout_s: float = 2.0

    async def policy(self) -> Policy:
        """The stored policy (seeded if absent), every entity's conflict rule spelled out."""
        stored = await self.store.load_or_seed(self.catalogue, self.clock())
        return service.complete_policy(self.catalogue, stored)

    async def publish(self, outcome: Outcome, actor: str) -> PolicyUpdate:
        """Publish a stored change (only when it made a new version) and report both facts."""
        policy = service.complete_policy(self.catalogue, outcome.policy)
        published = False
        if outcome.changed:
            event = PolicyChanged(event_id=self.new_id(), occurred_at=policy.updated_at, actor=actor, policy=policy)
            published = await self.publisher.publish(event)
        return PolicyUpdate(policy=policy, changed=outcome.changed, published=published)


def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


Context = Annotated[AppContext, Depends(get_context)]


def current_principal(
    context: Context,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """401 unless a known bearer token is presented (the token itself is never logged or echoed)."""
    challenge = {"WWW-Authenticate": "Bearer"}
    if credentials is None:
        raise HTTPException(401, "missing bearer token: send 'Authorization: Bearer <token>'", challenge)
    principal = context.tokens.verify(credentials.credentials)
    if principal is None:
        raise HTTPException(401, "invalid token", challenge)
    return principal


def require_admin(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
    if not principal.is_admin:
        raise HTTPException(403, f"{principal.name!r} is a viewer; this needs an admin token")
    return principal


Admin = Annotated[Principal, Depends(require_admin)]
