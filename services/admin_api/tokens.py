"""API tokens and roles: tokens are configured as SHA-256 hashes and checked in constant time (pure)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.settings import PLACEHOLDER_SECRETS, SANDBOX_ADMIN_TOKEN, SANDBOX_VIEWER_TOKEN

Role = Literal["admin", "viewer"]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TokenRecord(BaseModel):
    """One configured token: who it is (the actor name in the audit history), its role, its hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1)
    role: Role
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


class Principal(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SANDBOX_TOKENS: tuple[TokenRecord, ...] = (
    TokenRecord(name="sandbox-admin", role="admin", sha256=hash_token(SANDBOX_ADMIN_TOKEN)),
    TokenRecord(name="sandbox-viewer", role="viewer", sha256=hash_token(SANDBOX_VIEWER_TOKEN)),
)
_PLACEHOLDER_HASHES = frozenset(hash_token(secret) for secret in PLACEHOLDER_SECRETS)


class TokenRegistry:
    """Resolves a presented bearer token to its principal, or None."""

    def __init__(self, records: tuple[TokenRecord, ...]) -> None:
        self._records = tuple((bytes.fromhex(r.sha256), Principal(name=r.name, role=r.role)) for r in records)

    def verify(self, token: str) -> Principal | None:
        digest = hashlib.sha256(token.encode("utf-8")).digest()
        found = None
        # Compare against every record, without stopping early, so timing does not tell which matched.
        for expected, principal in self._records:
            if hmac.compare_digest(digest, expected) and found is None:
                found = principal
        return found


def check_tokens(records: tuple[TokenRecord, ...], sandbox: bool) -> None:
    """Refuse configurations an operator must not run with; raises ValueError with the reason."""
    if not records:
        raise ValueError("no admin API tokens configured: set FIELDSYNC_ADMIN_TOKENS or FIELDSYNC_ADMIN_TOKENS_FILE")
    names = [r.name for r in records]
    if len(set(names)) != len(names):
        raise ValueError("admin API token names must be unique (they are the actors in the audit history)")
    if not sandbox and any(r.sha256.lower() in _PLACEHOLDER_HASHES for r in records):
        raise ValueError(
            "the sandbox placeholder API tokens are configured while FIELDSYNC_SANDBOX=false; "
            "configure real token hashes in FIELDSYNC_ADMIN_TOKENS or FIELDSYNC_ADMIN_TOKENS_FILE"
        )
