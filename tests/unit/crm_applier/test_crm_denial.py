"""denial: the DeltaApplied note of a refused write and the change that brings the mailbox back to CRM's values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from services.crm_applier.denial import denial_note, refused_field, revert_event, without
from shared.catalogue import load_catalogue
from shared.crm.client import CrmError, Forbidden
from shared.crm.fields import canonical_fields
from shared.events import ItemDelta, Source

T0 = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
CONTACT = load_catalogue().entities["contact"]
ROW = {"contactid": "C1", "lastname": "L", "jobtitle": "CRM title", "nickname": None, "statecode": 0,
       "_ownerid_value": "U1", "versionnumber": 42}  # fmt: skip


def delta(**overrides: Any) -> ItemDelta:
    values: dict[str, Any] = {
        "event_id": "d1", "occurred_at": T0, "captured_at": T0, "source": Source(system="exchange"),
        "entity": "contact", "op": "update", "crm_id": "c1", "mailbox": "alice@x", "exchange_id": "AAA",
        "changed": {"jobtitle": "Outlook title", "nickname": "N"}, "target": "crm", "policy_version": 1,
        "decided_at": T0, "acting_user": "u1",
    }  # fmt: skip
    values.update(overrides)
    return ItemDelta(**values)


def test_the_note_is_crms_code_and_message() -> None:
    assert denial_note(Forbidden(403, "0x8004F507", "no update of jobtitle")) == "0x8004F507: no update of jobtitle"
    assert denial_note(CrmError(403, None, "refused")) == "403: refused"


def test_the_refused_fields_come_back_with_crms_values_from_the_refused_ones() -> None:
    refused = {"jobtitle": "Outlook title", "nickname": "N"}
    event = revert_event(CONTACT, delta(), ROW, refused, "bob@x", event_id="e1", now=T0)
    assert (event.event_id, event.entity, event.crm_id, event.op, event.origin) == ("e1", "contact", "c1", "update",
                                                                                    "user")  # fmt: skip
    assert event.changed == {"jobtitle": "CRM title", "nickname": None}
    assert event.previous == refused
    assert event.context == {"ownerid": "u1", "owner_mailbox": "bob@x", "statecode": 0, "denied_for": "alice@x"}
    assert (event.version, event.causation_id, event.source.system) == ("42", "d1", "crm")
    assert event.occurred_at == event.captured_at == T0


def test_a_refused_delete_sends_every_synced_field_back() -> None:
    event = revert_event(CONTACT, delta(op="delete", changed={}), ROW, {}, None, event_id="e2", now=T0)
    assert event.changed == canonical_fields(CONTACT, ROW) and event.previous == {}
    assert event.context["owner_mailbox"] is None and event.context["denied_for"] == "alice@x"


SECURED_UPDATE = "Caller user with Id u1 does not have update permissions to a {} secured field on entity contact."


@pytest.mark.parametrize(
    ("code", "message", "fields", "refused"),
    [
        ("0x8004F507", SECURED_UPDATE.format("jobtitle"), {"jobtitle": 1, "nickname": 2}, "jobtitle"),
        ("0x8004f502", SECURED_UPDATE.format("jobtitle").replace("update", "create"), {"jobtitle": 1}, "jobtitle"),
        ("0x8004F507", SECURED_UPDATE.format("lastname"), {"fullname": {}, "nickname": 2}, "fullname"),  # composite
        ("0x8004F507", SECURED_UPDATE.format("jobtitle"), {"nickname": 2}, None),  # not a field of this write
        ("0x8004F507", "The user does not have update permissions to a secured field.", {"jobtitle": 1}, None),
        ("0x80040220", SECURED_UPDATE.format("jobtitle"), {"jobtitle": 1}, None),  # the whole record is refused
        (None, SECURED_UPDATE.format("jobtitle"), {"jobtitle": 1}, None),
    ],
)
def test_the_one_secured_field_a_refusal_names(
    code: str | None, message: str, fields: dict[str, Any], refused: str | None
) -> None:
    assert refused_field(CONTACT, Forbidden(403, code, message), fields) == refused


def test_without_drops_one_field_and_keeps_the_rest_of_the_delta() -> None:
    rest = without(delta(expected={"jobtitle": "x"}), "jobtitle")
    assert rest.changed == {"nickname": "N"} and rest.event_id == "d1" and rest.acting_user == "u1"
