"""Performs one ItemDelta against the Web API: conditional writes, re-read on 412, links, echo, applied record.

Every write of a delta acts as its `acting_user` (MSCRMCallerID; None: the service principal); reads are the
service principal's, who sees every field. A write CRM refuses (403) is "denied" (services/crm_applier/denial.py).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from services.crm_applier.apply import Plan, counterpart_id, item_key, plan_update, remember, result_of
from services.crm_applier.attachments import AttachmentRefused, CrmFiles
from services.crm_applier.denial import denial_note, refused_field, revert_event, without
from services.crm_applier.records import Applied, AppliedRecords
from services.crm_applier.reverts import ChangePublisher
from shared import attachment_errors
from shared.attachments import KEY as FILES
from shared.catalogue import Catalogue, EntitySpec
from shared.crm.client import DUPLICATE_KEY, CrmClient, CrmError, Forbidden, NotFound, PreconditionFailed
from shared.crm.fields import canonical_datetime, canonical_fields, write_body
from shared.crm.snapshot import DELETED, EXACT, VERSION, Echo, snapshot_of
from shared.crm.state import CrmState
from shared.events import ApplyResult, ItemDelta


class Undeliverable(CrmError):
    """A delta that cannot be written however often it is retried (no owner, a record that never settles)."""

    def __init__(self, message: str) -> None:
        super().__init__(422, None, message)


@dataclass(frozen=True)
class Outcome:
    result: ApplyResult
    crm_id: str | None
    written: dict[str, Any] = field(default_factory=dict)
    version: str | None = None
    superseded: dict[str, Any] = field(default_factory=dict)
    note: str | None = None


def _fields(snapshot: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (snapshot or {}).items() if not k.startswith("@")}


def _link_of(delta: ItemDelta) -> tuple[str, str] | None:
    """The mailbox item a delta from Exchange came from: the CRM record gets linked to it."""
    return (delta.mailbox, delta.exchange_id) if delta.mailbox and delta.exchange_id else None


def _now() -> datetime:
    return datetime.now(UTC)


class CrmWriter:
    """The edge that carries out apply.py's decisions; retries of the transport live in CrmClient."""

    def __init__(
        self,
        client: CrmClient,
        state: CrmState,
        records: AppliedRecords,
        catalogue: Catalogue,
        conflict_retries: int = 5,
        reverts: ChangePublisher | None = None,
        clock: Callable[[], datetime] = _now,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        files: CrmFiles | None = None,
    ) -> None:
        self.client, self.state, self.records, self.catalogue = client, state, records, catalogue
        self.files = files  # an appointment's attachments (None: a delta's files are not written)
        self.conflict_retries = conflict_retries
        self.reverts, self.clock, self.new_id = reverts, clock, new_id

    async def apply(self, delta: ItemDelta) -> Outcome:
        spec = self.catalogue.entity(delta.entity)
        assert spec is not None  # validated by the loop before
        key = item_key(delta)
        applied = await self.records.applied(key)
        if delta.event_id in applied.events:
            return Outcome("duplicate", delta.crm_id)
        crm_id = delta.crm_id
        if crm_id is None and delta.mailbox and delta.exchange_id:
            linked = await self.state.links.of_item(delta.mailbox, delta.exchange_id)
            crm_id = linked[1] if linked and linked[0] == delta.entity else None
        if delta.op == "delete":
            outcome = await self._delete(spec, delta, crm_id)
        elif FILES in delta.changed and self.files is not None:
            rest = delta.model_copy(update={"changed": {k: v for k, v in delta.changed.items() if k != FILES}})
            outcome = await self._with_files(spec, delta, await self._upsert(spec, rest, crm_id, applied))
        else:
            outcome = await self._upsert(spec, delta, crm_id, applied)
        written = {**applied.written, **outcome.written}
        await self.records.record_applied(key, Applied(remember(applied.events, delta.event_id), written))
        return outcome

    async def _with_files(self, spec: EntitySpec, delta: ItemDelta, outcome: Outcome) -> Outcome:
        """The delta's other fields are written: now the record's files, as the delta's user. Files over the cap
        are refused once the rest is written and recorded, before the delta is recorded applied (a replay with a
        larger cap copies them)."""
        assert self.files is not None
        crm_id = outcome.crm_id
        if crm_id is None or outcome.result == "denied":
            return outcome
        try:
            done = await self.files.sync(spec.name, crm_id, delta.changed[FILES], delta.acting_user)
        except Forbidden as exc:
            await self.state.withdraw_announcement(spec.name, crm_id)
            return replace(outcome, result="denied", note=denial_note(exc))
        except NotFound:
            return outcome
        if done.changed:
            written = {**outcome.written, FILES: done.value}
            await self.state.record_write(spec.name, crm_id, Echo(outcome.version, written), {FILES: done.value})
            result: ApplyResult = "applied" if outcome.result == "skipped" else outcome.result
            outcome = replace(outcome, result=result, written=written)
        if done.too_large:
            raise AttachmentRefused(attachment_errors.too_large(done.too_large, self.files.store.cap_bytes))
        return outcome

    async def _delete(self, spec: EntitySpec, delta: ItemDelta, crm_id: str | None) -> Outcome:
        if crm_id is None:
            return Outcome("skipped", None, note="no linked CRM record to delete")
        # Recorded first: the capture must not echo the tombstone back even if we stop right after.
        earlier = await self.state.echo(spec.name, crm_id)
        await self.state.record_echo(spec.name, crm_id, Echo(DELETED, {}))
        try:
            with contextlib.suppress(NotFound):  # already gone: the delete is done
                await self.client.delete(spec.entity_set, crm_id, caller_id=delta.acting_user)
        except Forbidden as exc:
            return await self._denied(spec, delta, crm_id, {}, exc, earlier=earlier)
        await self.state.links.unlink_record(spec.name, crm_id)
        return Outcome("applied", crm_id)

    async def _upsert(self, spec: EntitySpec, delta: ItemDelta, crm_id: str | None, applied: Applied) -> Outcome:
        if crm_id is None and delta.op != "create":
            return Outcome("skipped", None, note="the item is not linked to a CRM record")
        snapshot = await self.state.snapshot(spec.name, crm_id) if crm_id else None
        # First attempt against what we last saw (no read), when the snapshot is the whole row at its version;
        # a 412 means CRM moved on: read and decide again.
        row: dict[str, Any] | None = None
        exact = bool(snapshot and snapshot.get(VERSION) and snapshot.get(EXACT) == snapshot.get(VERSION))
        etag = f'W/"{snapshot[VERSION]}"' if snapshot and exact else None
        for _ in range(self.conflict_retries):
            if crm_id is not None and (row is None and etag is None):
                row = await self._read(spec, crm_id)
                if row is None and delta.op != "create":
                    return Outcome("skipped", crm_id, note="the CRM record does not exist")
                etag = row.get("@odata.etag") if row else None
            if crm_id is None or (row is None and etag is None):
                created = await self._create(spec, delta, crm_id)
                if created is not None:
                    return created
                crm_id, row, etag = crm_id or counterpart_id(str(delta.mailbox), str(delta.exchange_id)), None, None
                continue  # it exists already (a replayed create): update it instead
            current = canonical_fields(spec, row) if row else _fields(snapshot)
            plan = plan_update(delta, current, applied.events)
            if row is None and (plan.superseded or plan.action == "noop"):
                etag = None  # the snapshot alone cannot tell "changed in CRM" or "already there": read the row
                continue
            if plan.action != "write":
                return await self._finish(spec, delta, crm_id, plan, None)
            # Announced before the write, so a capture polling in between recognises its values.
            await self.state.announce(spec.name, crm_id, plan.fields)
            body = write_body(spec, plan.fields)
            try:
                written = await self.client.update(spec.entity_set, crm_id, body, etag, caller_id=delta.acting_user)
            except Forbidden as exc:
                if (key := refused_field(spec, exc, plan.fields)) is not None and len(plan.fields) > 1:
                    await self.state.withdraw_announcement(spec.name, crm_id)
                    rest = await self._upsert(spec, without(delta, key), crm_id, applied)
                    return await self._partly(spec, delta, rest, {key: plan.fields[key]}, exc)
                return await self._denied(spec, delta, crm_id, plan.fields, exc)
            except PreconditionFailed:
                row, etag = None, None
                continue
            except NotFound:
                return Outcome("skipped", crm_id, note="the CRM record does not exist")
            return await self._finish(spec, delta, crm_id, plan, written, row)
        raise Undeliverable(f"the CRM record kept changing: {self.conflict_retries} conflicting writes in a row")

    async def _read(self, spec: EntitySpec, crm_id: str) -> dict[str, Any] | None:
        try:
            return await self.client.get(spec.entity_set, crm_id)
        except NotFound:
            return None

    async def _finish(
        self,
        spec: EntitySpec,
        delta: ItemDelta,
        crm_id: str,
        plan: Plan,
        row: dict[str, Any] | None,
        read: dict[str, Any] | None = None,
    ) -> Outcome:
        version = str(row["versionnumber"]) if row and row.get("versionnumber") is not None else None
        if row is not None:
            # `read` is the row as read before this write (None: written unread against the snapshot's etag).
            before = canonical_datetime(read.get("modifiedon")) if read else None
            # Written unread against the exact snapshot: snapshot plus these fields is the row at `version`.
            # Written over a row read anew: the row may hold changes not reported yet, so EXACT stays behind.
            exact = {EXACT: version} if read is None else {}
            snapshot = {**plan.fields, VERSION: version, **exact}
            await self.state.record_write(spec.name, crm_id, Echo(version, plan.fields, before), snapshot,
                                          link=_link_of(delta))
        elif (link := _link_of(delta)) is not None:
            await self.state.links.link(spec.name, crm_id, *link)
        return Outcome(result_of(plan), crm_id, plan.fields, version, plan.superseded)

    async def _create(self, spec: EntitySpec, delta: ItemDelta, crm_id: str | None) -> Outcome | None:
        """POST the counterpart owned by the delta's mailbox user; None when it already exists."""
        new_id = crm_id or counterpart_id(str(delta.mailbox), str(delta.exchange_id))
        body = {**write_body(spec, delta.changed), spec.key_attribute: new_id}
        if delta.mailbox:
            owner = await self.client.user_by_email(delta.mailbox)
            if owner is None:
                raise Undeliverable(f"no CRM user has the mailbox {delta.mailbox}")
            body["ownerid@odata.bind"] = f"/systemusers({owner})"
        await self.state.announce(spec.name, new_id, dict(delta.changed))
        try:
            row = await self.client.create(spec.entity_set, body, caller_id=delta.acting_user)
        except Forbidden as exc:
            if (key := refused_field(spec, exc, delta.changed)) is not None and len(delta.changed) > 1:
                await self.state.withdraw_announcement(spec.name, new_id)
                rest = await self._create(spec, without(delta, key), crm_id)
                return None if rest is None else await self._partly(spec, delta, rest, {key: delta.changed[key]}, exc)
            return await self._denied(spec, delta, None, dict(delta.changed), exc, echo_id=new_id)
        except PreconditionFailed as exc:
            if exc.code == DUPLICATE_KEY:
                return None
            raise
        version = str(row.get("versionnumber"))
        snapshot = snapshot_of(spec, row, delta.mailbox)
        # The whole new row is fieldsync's write: the capture must see nothing new in it.
        await self.state.record_write(spec.name, new_id, Echo(version, _fields(snapshot)), snapshot,
                                      replace_snapshot=True, link=_link_of(delta))
        return Outcome("applied", new_id, dict(delta.changed), version)

    async def _denied(
        self, spec: EntitySpec, delta: ItemDelta, crm_id: str | None, refused: dict[str, Any], error: CrmError,
        *, earlier: Echo | None = None, echo_id: str | None = None,
    ) -> Outcome:
        """CRM refused the write (403): nothing was written, so the announcement is withdrawn (a refused delete:
        the echo it replaced is put back), lest values fieldsync never wrote be dropped as its echo later; and
        CRM's values go back to the mailbox."""
        if delta.op == "delete":
            await self.state.restore_echo(spec.name, str(crm_id), earlier)
        else:
            await self.state.withdraw_announcement(spec.name, echo_id or str(crm_id))
        if crm_id is not None:
            await self._send_back(spec, delta, crm_id, refused)
        return Outcome("denied", crm_id, note=denial_note(error))

    async def _partly(
        self, spec: EntitySpec, delta: ItemDelta, rest: Outcome, refused: dict[str, Any], error: CrmError
    ) -> Outcome:
        """The other fields were written without the one CRM refused: that one goes back to the mailbox."""
        if rest.crm_id is not None:
            await self._send_back(spec, delta, rest.crm_id, refused)
        note = "; ".join(n for n in (denial_note(error), rest.note) if n)
        return replace(rest, result="denied", note=note)

    async def _send_back(self, spec: EntitySpec, delta: ItemDelta, crm_id: str, refused: dict[str, Any]) -> None:
        """CRM's values of the refused fields, read as the service principal, to the delta's mailbox."""
        row = await self._read(spec, crm_id)
        if row is not None and self.reverts is not None:
            owner = row.get("_ownerid_value")
            mailbox = await self.client.user_email(str(owner)) if owner else None
            event = revert_event(spec, delta, row, refused, mailbox, event_id=self.new_id(), now=self.clock())
            await self.reverts.publish(event)  # acked before the delta is recorded applied: a replay is a duplicate

