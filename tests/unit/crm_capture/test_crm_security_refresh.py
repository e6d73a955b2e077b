"""security_refresh: which records a round refreshes (a table row per kind of change) and the refresh itself."""

from __future__ import annotations

from typing import Any

import pytest

from services.crm_capture.security_refresh import Affected, affected, refresh_change
from services.crm_capture.security_tables import RowChange
from shared.crm.snapshot import OWNER, OWNER_MAILBOX, STATE, VERSION

SYNCED = frozenset({"contact", "task"})
ALL = Affected(SYNCED)


@pytest.mark.parametrize(
    ("table", "row", "expected"),
    [
        ("principalobjectaccessset", {"objectid": "C1", "objecttypecode": "contact"},
         Affected(records=frozenset({("contact", "c1")}))),
        ("principalobjectaccessset", {"objectid": "a1", "objecttypecode": "account"}, Affected()),
        ("attributemetadata", {"EntityLogicalName": "task", "LogicalName": "subject", "IsSecured": True},
         Affected(frozenset({"task"}))),
        ("attributemetadata", {"EntityLogicalName": "account", "LogicalName": "name", "IsSecured": True}, Affected()),
        ("fieldpermissions", {"entityname": "contact", "attributelogicalname": "jobtitle"},
         Affected(frozenset({"contact"}))),
        ("roles", {"roleid": "r1"}, ALL),
        ("roleprivilegescollection", {"roleid": "r1", "privilegeid": "p1", "privilegedepthmask": 2}, ALL),
        ("privileges", {"privilegeid": "p1"}, ALL),
        ("businessunits", {"businessunitid": "b1"}, ALL),
        ("systemusers", {"systemuserid": "u1"}, ALL),
        ("teams", {"teamid": "t1"}, ALL),
        ("teammemberships", {"teamid": "t1", "systemuserid": "u1"}, ALL),
        ("systemuserrolescollection", {"systemuserid": "u1", "roleid": "r1"}, ALL),
        ("teamrolescollection", {"teamid": "t1", "roleid": "r1"}, ALL),
        ("systemuserprofilescollection", {"systemuserid": "u1", "fieldsecurityprofileid": "f1"}, ALL),
        ("teamprofilescollection", {"teamid": "t1", "fieldsecurityprofileid": "f1"}, ALL),
    ],
)  # fmt: skip
def test_what_each_kind_of_change_refreshes(table: str, row: dict[str, Any], expected: Affected) -> None:
    assert affected([RowChange(table, "p", row)], SYNCED) == expected
    assert affected([RowChange(table, "p", row, deleted=True)], SYNCED) == expected  # a delete as last seen


def test_a_record_already_covered_by_its_entity_is_not_listed_twice() -> None:
    changes = [
        RowChange("principalobjectaccessset", "s1", {"objectid": "c1", "objecttypecode": "contact"}),
        RowChange("principalobjectaccessset", "s2", {"objectid": "t1", "objecttypecode": "task"}),
        RowChange("fieldpermissions", "f1", {"entityname": "contact"}),
    ]
    assert affected(changes, SYNCED) == Affected(frozenset({"contact"}), frozenset({("task", "t1")}))
    assert not affected([], SYNCED)


def test_a_refresh_carries_every_field_unchanged_with_the_context_and_round() -> None:
    snapshot = {"jobtitle": "A", "fullname": {"lastname": "L"}, OWNER: "u1", OWNER_MAILBOX: "a@x", STATE: 0,
                VERSION: "42"}  # fmt: skip
    change = refresh_change(snapshot, 5)
    assert change.op == "update" and change.version == "42" and change.origin == "user"
    assert change.changed == change.previous == {"jobtitle": "A", "fullname": {"lastname": "L"}}
    assert change.context == {"ownerid": "u1", "owner_mailbox": "a@x", "statecode": 0, "refresh": True,
                              "attributes": {"_ownerid_value": "u1", "statecode": 0},
                              "security_round": 5}  # fmt: skip
    assert refresh_change({"jobtitle": "A"}, 1).version is None
