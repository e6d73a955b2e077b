"""The privilege catalogue, AccessRights texts, and the integrity rules of the security tables (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.sandbox.crm.integrity import prepare, refuse_delete
from infra.sandbox.crm.odata import ODataError
from infra.sandbox.crm.privileges import BASIC, GLOBAL, by_name, catalogue, parse_rights, privilege_id, rights_text
from infra.sandbox.crm.schema import entity_sets
from infra.sandbox.crm.security_state import SecurityState

STATE = SecurityState(
    root="root", parent={"root": None, "sales": "root", "east": "sales"}, user_unit={"u": "east"},
    team_unit={"owners": "east", "access": "east"}, team_type={"owners": 0, "access": 1},
    secured=frozenset({("contact", "jobtitle")}),
)  # fmt: skip


@pytest.mark.parametrize(
    ("mask", "text"),
    [(0, "None"), (1, "ReadAccess"), (3, "ReadAccess, WriteAccess"),
     (524288 | 65536 | 16, "AppendToAccess, DeleteAccess, AssignAccess")],
)  # fmt: skip
def test_access_rights_read_and_write_as_the_web_api_spells_them(mask: int, text: str) -> None:
    assert rights_text(mask) == text
    assert parse_rights(text) == mask


@pytest.mark.parametrize("bad", ["ReadAccess, Bogus", 1 << 30, -1, None, True, ["ReadAccess"]])
def test_unknown_access_rights_are_refused(bad: object) -> None:
    assert parse_rights(bad) is None


def test_the_catalogue_names_privileges_after_the_tables_and_their_ownership() -> None:
    names = set(by_name())
    for verb in ("Create", "Read", "Write", "Delete", "Append", "AppendTo", "Assign", "Share"):
        assert f"prv{verb}Contact" in names and f"prv{verb}Activity" in names
    assert "prvReadAppointment" not in names  # appointments use the Activity privileges, as in Dynamics
    assert "prvAssignRole" not in names and "prvReadRole" in names  # business-owned: no assign or share
    named = by_name()
    contact, role, profile = named["prvReadContact"], named["prvReadRole"], named["prvReadFieldSecurityProfile"]
    assert contact.allows(BASIC) and not role.allows(BASIC) and role.allows(GLOBAL)
    assert not profile.allows(BASIC) and profile.allows(GLOBAL) and not profile.canbelocal
    assert contact.privilegeid == privilege_id("prvReadContact") and len(catalogue()) == len(names)


def prepared(entity_set: str, row: dict[str, Any], existing: dict[str, Any] | None = None) -> dict[str, Any]:
    return prepare(entity_sets()[entity_set], row, existing, STATE, "east")


def test_defaults_put_new_rows_in_a_business_unit() -> None:
    assert prepared("businessunits", {"businessunitid": "new"})["_parentbusinessunitid_value"] == "root"
    assert prepared("systemusers", {"systemuserid": "x"})["_businessunitid_value"] == "root"
    team = prepared("teams", {"teamid": "t"})
    assert (team["_businessunitid_value"], team["teamtype"]) == ("east", 0)
    assert prepared("roles", {"roleid": "r"})["_businessunitid_value"] == "east"
    permission = prepared("fieldpermissions", {
        "fieldpermissionid": "f", "_fieldsecurityprofileid_value": "p", "entityname": "contact",
        "attributelogicalname": "jobtitle", "canread": 4,
    })  # fmt: skip
    assert (permission["canread"], permission["canupdate"], permission["cancreate"]) == (4, 0, 0)


@pytest.mark.parametrize(
    ("entity_set", "row"),
    [
        ("businessunits", {"businessunitid": "sales", "_parentbusinessunitid_value": "east"}),  # below itself
        ("businessunits", {"businessunitid": "root", "_parentbusinessunitid_value": "sales"}),  # root with parent
        ("teams", {"teamid": "t", "teamtype": 7}),
        ("fieldpermissions", {"fieldpermissionid": "f", "entityname": "contact", "attributelogicalname": "jobtitle"}),
        ("fieldpermissions", {"fieldpermissionid": "f", "_fieldsecurityprofileid_value": "p", "entityname": "contact",
                              "attributelogicalname": "nickname"}),  # not secured
        ("fieldpermissions", {"fieldpermissionid": "f", "_fieldsecurityprofileid_value": "p", "entityname": "contact",
                              "attributelogicalname": "jobtitle", "canread": 1}),
        ("contacts", {"contactid": "c", "_ownerid_value": "access"}),  # an access team owns nothing
    ],
)  # fmt: skip
def test_rows_that_would_break_the_security_tables_are_refused(entity_set: str, row: dict[str, Any]) -> None:
    with pytest.raises(ODataError) as refused:
        prepared(entity_set, row)
    assert refused.value.status == 400 and refused.value.code == "0x80040203"


def test_records_may_be_owned_by_an_owner_team() -> None:
    assert prepared("contacts", {"contactid": "c", "_ownerid_value": "owners"})["_ownerid_value"] == "owners"


@pytest.mark.parametrize(("unit", "refused"), [("root", True), ("sales", True), ("east", True), ("empty", False)])
def test_a_business_unit_is_deleted_only_when_empty(unit: str, refused: bool) -> None:
    spec = entity_sets()["businessunits"]
    if refused:
        with pytest.raises(ODataError):
            refuse_delete(spec, unit, STATE)
    else:
        refuse_delete(spec, unit, STATE)
