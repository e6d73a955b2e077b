"""What explains a difference (infra/policytest/explain.py): the policy diff weighed by the traffic's shape."""

from __future__ import annotations

from infra.policytest.explain import explain
from infra.sandbox.traffic_shape import ShapeRow, TrafficShape
from shared.events import OrgSettings
from tests.policy_builders import CATALOGUE, policy

# 50 contact changes: 30 in CRM (12 carried the description), 20 in Exchange (9 carried it); 10 task changes.
SHAPE = TrafficShape(rows=(
    ShapeRow(side="crm", entity="contact", changes=30, fields={"description": 12, "jobtitle": 30}),
    ShapeRow(side="exchange", entity="contact", changes=20, fields={"description": 9}),
    ShapeRow(side="crm", entity="task", changes=10, fields={"subject": 10}),
), source="window")  # fmt: skip


def test_the_current_policy_explains_nothing() -> None:
    assert explain(CATALOGUE, policy(), policy(), SHAPE) == []


def test_a_field_turned_both_adds_the_writes_of_the_changes_that_carry_it_from_the_other_side() -> None:
    [found] = explain(CATALOGUE, policy(contact__description="to_exchange"), policy(contact__description="both"), SHAPE)
    assert (found.kind, found.entity, found.field, found.before, found.after) == (
        "direction", "contact", "description", "to_exchange", "both")
    assert [(e.flow, e.change, e.share) for e in found.effects] == [("exchange_to_crm", "adds", 0.18)]
    assert found.text == ("turning contact description from `to_exchange` to `both` adds Exchange-to-CRM writes for "
                          "18% of contact changes (9 of 50)")  # fmt: skip


def test_a_field_turned_none_stops_both_flows() -> None:
    [found] = explain(CATALOGUE, policy(), policy(contact__description="none"), SHAPE)
    assert [(e.flow, e.change, e.share) for e in found.effects] == [
        ("crm_to_exchange", "stops", 12 / 50), ("exchange_to_crm", "stops", 9 / 50)]
    assert found.text.endswith("stops CRM-to-Exchange writes for 24% of contact changes (12 of 50) and stops "
                               "Exchange-to-CRM writes for 18% of contact changes (9 of 50)")  # fmt: skip


def test_a_flow_the_traffic_never_takes_is_named_without_a_share() -> None:
    [found] = explain(CATALOGUE, policy(), policy(contact__jobtitle="none"), SHAPE)
    assert found.text == ("turning contact jobtitle from `both` to `none` stops CRM-to-Exchange writes for 60% of "
                          "contact changes (30 of 50) and stops Exchange-to-CRM writes, which no contact change of "
                          "the traffic made")  # fmt: skip


def test_a_change_the_traffic_never_carries_says_so() -> None:
    [found] = explain(CATALOGUE, policy(), policy(contact__nickname="none"), SHAPE)
    assert all(e.share == 0 for e in found.effects)
    assert "but no contact change of the traffic carried nickname from either side" in found.text


def test_the_biggest_effect_comes_first() -> None:
    found = explain(CATALOGUE, policy(), policy(contact__description="to_crm", contact__jobtitle="none"), SHAPE)
    assert [item.field for item in found] == ["jobtitle", "description"]  # 60% of contact changes before 24%


def test_a_fixed_field_follows_its_documented_direction_whatever_the_policy_says() -> None:
    assert explain(CATALOGUE, policy(), policy(contact__fullname="none"), SHAPE) == []


def test_conflict_rules_and_settings_are_named_without_a_share() -> None:
    candidate = policy().model_copy(update={"conflict_rules": {"contact": "crm_wins"},
                                            "settings": OrgSettings(sync_appointment_attachments=True)})  # fmt: skip
    found = explain(CATALOGUE, policy(), candidate, SHAPE)
    assert [(item.kind, item.entity, item.before, item.after) for item in found] == [
        ("direction", "appointment", "none", "both"),  # the setting turns the attachments pair on
        ("conflict_rule", "contact", "latest", "crm_wins"), ("setting", None, "False", "True")]
    assert found[0].field == "attachments" and "no appointment change of the traffic carried" in found[0].text
    assert all(not item.effects for item in found[1:])
    assert "sync_appointment_attachments" in found[2].text
