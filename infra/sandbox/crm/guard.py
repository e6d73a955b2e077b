"""The caller of a Web API request and the security checks it must pass, answered as the Web API's errors.

Who a call acts as: the application's token acts as the application user (a System Administrator; such
calls skip the checks), a person's token as that person; `MSCRMCallerID` impersonates another user, which
the application user may always do and a person only as a System Administrator. The real caller of an
impersonated write is recorded in `_createdonbehalfby_value` / `_modifiedonbehalfby_value`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from infra.sandbox.crm.access import Denial, FieldAccess, Visibility, check, field_access, is_system_administrator
from infra.sandbox.crm.odata import (
    ACCESS_DENIED,
    NOT_FOUND,
    PRIVILEGE_DENIED,
    SECURED_CREATE_DENIED,
    SECURED_UPDATE_DENIED,
    ODataError,
    bad_request,
)
from infra.sandbox.crm.records import BIND_SUFFIX, parse_guid
from infra.sandbox.crm.schema import EntitySet
from infra.sandbox.crm.security_state import SECURITY_TABLES, SecurityState, state_from_rows
from infra.sandbox.crm.store import Store

Row = dict[str, Any]
ROOT_UNIT_META = "root_business_unit_id"


class SecurityCache:
    """The security state of the store, rebuilt only after one of its tables changed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._key: tuple[int, ...] | None = None
        self._state = SecurityState()

    def state(self) -> SecurityState:
        key = tuple(self.store.generation(table) for table in SECURITY_TABLES)
        if key != self._key:
            rows = {table: self.store.all_rows(table) for table in SECURITY_TABLES}
            self._state, self._key = state_from_rows(rows, self.store.meta(ROOT_UNIT_META)), key
        return self._state


def denied(user: str, spec: EntitySet, record_id: str | None, denial: Denial) -> ODataError:
    if denial.privilege is None or not denial.held:
        name = denial.privilege.name if denial.privilege else "the System Administrator role"
        privilege = f" (Id={denial.privilege.privilegeid})" if denial.privilege else ""
        message = f"Principal user (Id={user}, type=8) is missing {name} privilege{privilege}"
        return ODataError(403, PRIVILEGE_DENIED, f"{message} for entity '{spec.logical_name}'.")
    return ODataError(
        403,
        ACCESS_DENIED,
        f"Principal with ID {user} does not have {denial.right} right(s) for record with ID {record_id} "
        f"of entity {spec.logical_name}.",
    )


def masked(row: Row, hidden: frozenset[str]) -> Row:
    """The row as a user who may not read the `hidden` secured attributes sees it: those come back null."""
    return {**row, **dict.fromkeys(hidden, None)} if hidden else row


@dataclass(frozen=True)
class Caller:
    """The systemuser a call acts as (`user`), who really called (`real`), and the state it is judged by."""

    user: str
    real: str
    state: SecurityState = field(repr=False)
    unrestricted: bool = False  # the application user itself: a System Administrator, nothing to check

    @property
    def on_behalf_of(self) -> str | None:
        return self.real if self.user != self.real else None

    def require(self, spec: EntitySet, row: Row, verb: str) -> None:
        """Refuse (403) unless the user may `verb` the record."""
        if not self.unrestricted:
            denial = check(self.state, self.user, spec, row, verb)
            if denial is not None:
                raise denied(self.user, spec, row.get(spec.key), denial)

    def is_administrator(self) -> bool:
        return self.unrestricted or is_system_administrator(self.state, self.user)

    def fields(self, spec: EntitySet) -> FieldAccess:
        return FieldAccess() if self.unrestricted else field_access(self.state, self.user, spec.logical_name)

    def view(self, spec: EntitySet) -> Callable[[Row], Row | None]:
        """For a collection: the row as the user sees it, or None when the user may not read it. Without the
        read privilege at all, the query itself is refused (403), as Dynamics does."""
        if self.unrestricted:
            return lambda row: row
        visibility = Visibility(self.state, self.user, spec)
        if not visibility.held:
            raise denied(self.user, spec, None, Denial(visibility.privilege, "ReadAccess", held=False))
        hidden = self.fields(spec).hidden
        return lambda row: masked(row, hidden) if visibility.sees(row) else None

    def readable(self, spec: EntitySet, row: Row) -> Row:
        """One record as the user sees it; 403 when the user may not read it."""
        self.require(spec, row, "Read")
        return masked(row, self.fields(spec).hidden)

    def check_secured_values(self, spec: EntitySet, body: Any, creating: bool) -> None:
        """A create setting, or an update naming, a secured attribute the user may not create/update: 403."""
        if self.unrestricted or not isinstance(body, dict):
            return
        fields = self.fields(spec)
        allowed = fields.creatable if creating else fields.updatable
        for name, value in body.items():
            if name.endswith(BIND_SUFFIX) or name not in fields.secured or name in allowed:
                continue
            if creating and value is None:
                continue  # a create leaving the field empty sets nothing
            verb, code = ("create", SECURED_CREATE_DENIED) if creating else ("update", SECURED_UPDATE_DENIED)
            raise ODataError(
                403,
                code,
                f"Caller user with Id {self.user} does not have {verb} permissions to a {name} secured field on "
                f"entity {spec.logical_name}. The requested operation could not be completed.",
            )


def resolve_caller(request: Request, store: Store, cache: SecurityCache, application_user: str,
                   token_user: str | None) -> Caller:  # fmt: skip
    """Who the call acts as (see the module docstring); 400 for an unknown MSCRMCallerID."""
    state = cache.state()
    real = token_user or application_user
    raw = request.headers.get("mscrmcallerid")
    if raw is None:
        return Caller(real, real, state, unrestricted=token_user is None)
    user = parse_guid(raw)
    if user is None or store.get("systemusers", user) is None:
        raise bad_request(f"systemuser With Id = {raw} Does Not Exist", NOT_FOUND)
    if token_user is not None and not is_system_administrator(state, token_user):
        raise ODataError(
            403,
            PRIVILEGE_DENIED,
            f"Principal user (Id={token_user}, type=8) is missing prvActOnBehalfOfAnotherUser privilege.",
        )
    return Caller(user, real, state)
