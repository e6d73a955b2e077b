"""Recorded security: the security answers one decision asked for, kept with it, and answered again on a replay.

Pure: no I/O, no clock, no logging. The rules (scope.py, tracking.py, clearance.py) ask a `Security` three things:
whose a mailbox is, whether a user may read, write, create or delete a record, and which fields of an entity the
user may not read, update or create. `Recording` answers them from the live tables and notes every answer (the
change window keeps them, shared.change_window.SecurityFacts); `Replayed` answers a replay of that change from the
notes, so a preview decides it under the security it was decided under, not under today's tables. A question the
original decision never asked (a candidate policy can lead the rules elsewhere) is answered by the `fallback`, the
live tables, and without one as allowed (security off).
"""

from __future__ import annotations

from services.policy.security import FieldRights as Rights
from services.policy.security import Security, Verb, Verdict
from services.policy.security_model import Model
from shared.catalogue import EntitySpec
from shared.change_window import RecordedFieldRights, RecordedVerdict, SecurityFacts

RecordKey = tuple[str, str, str | None, str | None, str]  # user, entity, crm_id, owner, verb


class Recording(Security):
    """The live `inner` security, answering as it does and noting every answer."""

    def __init__(self, inner: Security) -> None:
        super().__init__(inner.model)
        self.inner = inner
        self.users: dict[str, str | None] = {}
        self.records: dict[RecordKey, Verdict] = {}
        self.field_rights: dict[tuple[str, str], Rights] = {}

    def user_of(self, mailbox: str | None) -> str | None:
        user = self.inner.user_of(mailbox)
        if mailbox:
            self.users[mailbox] = user
        return user

    def record(self, user: str, entity: str, crm_id: str | None, owner: str | None, verb: Verb) -> Verdict:
        verdict = self.inner.record(user, entity, crm_id, owner, verb)
        self.records[(user, entity, crm_id, owner, verb)] = verdict
        return verdict

    def fields(self, user: str, spec: EntitySpec) -> Rights:
        rights = self.inner.fields(user, spec)
        self.field_rights[(user, spec.name)] = rights
        return rights

    def facts(self) -> SecurityFacts:
        records = tuple(
            RecordedVerdict(user=user, entity=entity, crm_id=crm_id, owner=owner, verb=verb, allowed=v.allowed,
                            reason=v.reason, detail=v.detail)
            for (user, entity, crm_id, owner, verb), v in self.records.items()
        )  # fmt: skip
        fields = tuple(
            RecordedFieldRights(user=user, entity=entity, unreadable=dict(r.unreadable),
                                unupdatable=dict(r.unupdatable), uncreatable=dict(r.uncreatable))
            for (user, entity), r in self.field_rights.items()
        )  # fmt: skip
        return SecurityFacts(round=self.inner.round, users=dict(self.users), records=records, fields=fields)


class Replayed(Security):
    """Answers from one decision's recorded answers; what it never asked, from `fallback` (None: allowed)."""

    def __init__(self, facts: SecurityFacts, fallback: Security | None = None) -> None:
        super().__init__(fallback.model if fallback else Model())
        self.fallback = fallback
        self.users = facts.users
        self.records: dict[RecordKey, Verdict] = {
            (r.user, r.entity, r.crm_id, r.owner, r.verb): Verdict(r.allowed, r.reason, r.detail)
            for r in facts.records
        }
        self.field_rights = {
            (r.user, r.entity): Rights(r.unreadable, r.unupdatable, r.uncreatable) for r in facts.fields
        }

    def user_of(self, mailbox: str | None) -> str | None:
        if mailbox in self.users:
            return self.users[mailbox]
        return self.fallback.user_of(mailbox) if self.fallback else mailbox

    def record(self, user: str, entity: str, crm_id: str | None, owner: str | None, verb: Verb) -> Verdict:
        found = self.records.get((user, entity, crm_id, owner, verb))
        if found is not None:
            return found
        return self.fallback.record(user, entity, crm_id, owner, verb) if self.fallback else Verdict(True)

    def fields(self, user: str, spec: EntitySpec) -> Rights:
        found = self.field_rights.get((user, spec.name))
        if found is not None:
            return found
        return self.fallback.fields(user, spec) if self.fallback else Rights()
