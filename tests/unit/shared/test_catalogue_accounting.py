"""Every documented field pair is honest: mapped and round-tripped each way it may flow, or declared not writable.

For each of the 98 pairs of dynamics_fields.json and each side it may flow to (CRM, Exchange), either
- the pair is mapped on that side and `test_pair_round_trips` below names it (`entity.key:side`): a canonical
  value written the way the applier writes it and read back the way the capture reads it is the same value
  (as that side can hold it), or
- the catalogue declares the side not writable with the reason; then the decision says `unmapped` for that
  side, the admin API's field view says `*_writable: false` with the note, and the applier's mapping would
  refuse or skip it (nothing reaches it: the policy never sends it).
The accounting prints "N of 98 accounted for".
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.admin_api.service import field_view
from services.policy.verdict import FLOWS, field_reason
from shared.catalogue import FieldPair, load_catalogue
from shared.crm import fields as crm_fields
from shared.events import Policy
from shared.exchange import fields as exchange_fields
from shared.recurrence import normal_form

REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "dynamics_fields.json"
CATALOGUE = load_catalogue()
POLICY = Policy(version=1, updated_at=datetime(2026, 1, 1, tzinfo=UTC), updated_by="test",
                directions=CATALOGUE.default_directions())
ACCOUNT = {"id": "0a0a0a0a-0000-0000-0000-000000000001", "logicalname": "account", "name": "Contoso"}
CONTACT_REF = {"id": "0c0c0c0c-0000-0000-0000-000000000002", "logicalname": "contact", "name": "Ana Silva"}
TIME = {"scheduledstart": "2030-01-02T09:00:00Z", "scheduledend": "2030-01-02T10:30:00Z",
        "scheduleddurationminutes": 90, "isalldayevent": False}  # fmt: skip
# A canonical value per field key (per entity where it differs) that both sides can represent.
SAMPLES: dict[str, Any] = {
    # A recurring appointment's pattern, in the normal form both captures read (shared.recurrence).
    "recurrence_pattern": normal_form({"recurrencepatterntype": 1, "interval": 1, "daysofweekmask": 10,
                                       "patternstartdate": "2030-01-07", "patternendtype": 2, "occurrences": 10,
                                       "starttime": "2030-01-07T09:00:00Z", "duration": 30}),
    "fullname": {"firstname": "Ana", "middlename": "M", "lastname": "Silva"},
    **{f"address{n}_composite": {f"address{n}_{p}": f"{p} {n}" for p in exchange_fields.ADDRESS_PARTS}
       for n in (1, 2, 3)},
    "anniversary": "2001-06-30", "birthdate": "1980-02-29", "childrensnames": "Lea, Tom",
    "parentcustomerid": ACCOUNT, "regardingobjectid": CONTACT_REF,
    "appointment_time": TIME, "prioritycode": 2, "percentcomplete": 40,
    "optionalattendees": ["o@sandbox.local"], "requiredattendees": ["r@sandbox.local"],
    "organizer": "alice@sandbox.local",
    "appointment_status": {"statecode": 3, "statuscode": 5}, "status": {"statecode": 0, "statuscode": 3},
    "scheduledstart": "2030-01-02T00:00:00Z", "scheduledend": "2030-01-03T00:00:00Z",
    "actualend": "2030-01-04T10:00:00Z", "emailaddress1": "a@example.test", "emailaddress2": "b@example.test",
    "emailaddress3": "c@example.test", "websiteurl": "https://example.test",
}  # fmt: skip


# Per entity where the sample differs: phone calls, letters and faxes have their own status reasons.
ENTITY_SAMPLES = {(e, "status"): {"statecode": 1, "statuscode": exchange_fields.COMPLETED_REASON[e]}
                  for e in ("phonecall", "letter", "fax")}  # fmt: skip


def sample(entity: str, pair: FieldPair) -> Any:
    return ENTITY_SAMPLES.get((entity, pair.key), SAMPLES.get(pair.key, f"{pair.key} value"))


def flows_to(pair: FieldPair, side: str) -> bool:
    """Whether any direction the admin may choose (or the fixed one) sends the pair to `side`."""
    return any(d in FLOWS[side] for d in pair.allowed_directions)  # type: ignore[index]


def as_read_back(spec_name: str, body: dict[str, Any]) -> dict[str, Any]:
    """The Web API row a PATCH body leaves, as the capture reads it (binds become `_x_value` + annotations)."""
    row: dict[str, Any] = {}
    for name, value in body.items():
        if name.endswith("@odata.bind"):
            lookup, _, logical = name[: -len("@odata.bind")].partition("_")
            record_id = value[value.index("(") + 1: -1] if value else None
            row[f"_{lookup}_value"] = record_id
            row[f"_{lookup}_value{crm_fields.LOGICAL_NAME}"] = logical
            names = {ACCOUNT["id"]: ACCOUNT["name"], CONTACT_REF["id"]: CONTACT_REF["name"]}
            row[f"_{lookup}_value{crm_fields.FORMATTED_VALUE}"] = names.get(record_id or "")
        else:
            row[name] = value
    return row


MAPPED = [
    (entity, pair, side)
    for entity, spec in CATALOGUE.entities.items()
    for pair in spec.fields
    for side in ("crm", "exchange")
    if flows_to(pair, side) and pair.writable(side)
    and (side == "crm" or exchange_fields.CODECS.get(entity, {}).get(pair.key) is not None)
]  # fmt: skip


@pytest.mark.parametrize(("entity", "pair", "side"), MAPPED, ids=[f"{e}.{p.key}:{s}" for e, p, s in MAPPED])
def test_pair_round_trips(entity: str, pair: FieldPair, side: str) -> None:
    spec = CATALOGUE.entities[entity]
    value = sample(entity, pair)
    if side == "crm":
        row = as_read_back(entity, crm_fields.write_body(spec, {pair.key: value}))
        assert crm_fields.canonical_fields(spec, row)[pair.key] == value
    else:
        write = exchange_fields.to_exchange(entity, {pair.key: value})
        assert write.unmapped == () and write.read_only == ()
        back = exchange_fields.to_canonical(entity, write.attributes)[pair.key]
        assert back == exchange_fields.stored_as(entity, pair.key, value)
        assert back is not None


def test_every_documented_pair_is_accounted_for(capsys: pytest.CaptureFixture[str]) -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))["entities"]
    named = {(e, p.key, s) for e, p, s in MAPPED}
    accounted, problems = 0, []
    for entity, rows in reference.items():
        spec = CATALOGUE.entities[entity]
        by_field = {p.crm_field: p for p in spec.fields}
        for row in rows:
            pair = by_field.get(row["crm_field"])
            if pair is None:
                problems.append(f"{entity}: {row['crm_field']} is not in the catalogue")
                continue
            honest = True
            for side in ("crm", "exchange"):
                if not flows_to(pair, side):
                    continue
                if (entity, pair.key, side) in named:
                    assert field_reason(spec, _flowing(pair, side), pair.key, side) is None  # type: ignore[arg-type]
                    continue
                if pair.writable(side) or not pair.writable_note:
                    honest = False
                    problems.append(f"{entity}.{pair.key}: flows to {side}, neither mapped nor declared")
                    continue
                # Declared: the decision and the field view say so.
                assert field_reason(spec, _flowing(pair, side), pair.key, side) == "unmapped"  # type: ignore[arg-type]
                view = field_view(pair, POLICY, entity)
                assert getattr(view, f"{side}_writable") is False and view.writable_note == pair.writable_note
            accounted += honest
    total = sum(len(rows) for rows in reference.values())
    with capsys.disabled():
        print(f"\n{accounted} of {total} accounted for")
    assert not problems, problems
    assert accounted == total == 98


def _flowing(pair: FieldPair, side: str) -> Policy:
    """A policy that sends the pair to `side` (its first allowed direction that does)."""
    direction = next(d for d in pair.allowed_directions if d in FLOWS[side])  # type: ignore[index]
    directions = CATALOGUE.default_directions()
    return POLICY.model_copy(update={"directions": {**directions, **{
        e: {**d, pair.key: direction} for e, d in directions.items()}}})  # fmt: skip


def test_a_writable_side_has_a_mapping_and_an_unwritable_one_a_reason() -> None:
    for entity, spec in CATALOGUE.entities.items():
        codecs = exchange_fields.CODECS.get(entity, {})
        for pair in spec.fields:
            codec = codecs.get(pair.key)
            if codec is not None and codec.write is None and pair.key not in exchange_fields.WRITTEN_APART:
                assert not pair.exchange_writable, f"{entity}.{pair.key}: EWS cannot write it: declare it"
            if not pair.crm_writable or not pair.exchange_writable:
                assert pair.writable_note, f"{entity}.{pair.key}: a side not writable needs its reason"
