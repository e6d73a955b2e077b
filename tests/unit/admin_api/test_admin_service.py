"""Table tests of the admin API's pure rules: which direction and rule changes are refused, and why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from services.admin_api import service
from services.admin_api.schemas import PolicyChangeRequest
from shared.catalogue import load_catalogue
from shared.events import CONFLICT_RULES, Policy
from shared.policy_store import ConflictRuleChange, DirectionChange

CATALOGUE = load_catalogue()
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def change(entity: str, field: str, direction: str) -> DirectionChange:
    return DirectionChange.model_validate({"entity": entity, "field": field, "direction": direction})


@pytest.mark.parametrize(
    ("entity", "field", "direction", "error"),
    [
        ("contact", "telephone1", "to_crm", None),
        ("contact", "telephone1", "none", None),
        ("contact", "telephone1", "both", None),
        ("contact", "telephone1", "to_exchange", None),
        ("appointment", "appointment_time", "both", None),  # fixed, set to what it is fixed at: no-op
        ("appointment", "appointment_time", "to_crm", service.NotChangeable),
        ("appointment", "attachments", "both", service.NotChangeable),
        ("serviceappointment", "subject", "both", service.NotChangeable),
        ("serviceappointment", "subject", "to_exchange", None),
        ("contact", "fullname", "none", service.NotChangeable),
        ("account", "name", "both", service.UnknownEntity),
        ("contact", "no_such_field", "both", service.UnknownField),
        ("", "telephone1", "both", service.UnknownEntity),
    ],
)
def test_validate_change(entity: str, field: str, direction: str, error: type[Exception] | None) -> None:
    if error is None:
        service.validate_change(CATALOGUE, change(entity, field, direction))
    else:
        with pytest.raises(error):
            service.validate_change(CATALOGUE, change(entity, field, direction))


def test_every_catalogue_direction_rule_is_enforced() -> None:
    for spec in CATALOGUE.entities.values():
        for pair in spec.fields:
            for direction in ("both", "to_exchange", "to_crm", "none"):
                request = change(spec.name, pair.key, direction)
                if direction in pair.allowed_directions:
                    service.validate_change(CATALOGUE, request)
                else:
                    with pytest.raises((service.NotChangeable, service.DirectionNotAllowed)):
                        service.validate_change(CATALOGUE, request)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (service.UnknownEntity, 404),
        (service.UnknownField, 404),
        (service.NotChangeable, 409),
        (service.DirectionNotAllowed, 409),
        (service.DuplicateChange, 409),
    ],
)
def test_status_of_each_refusal(error: type[service.PolicyError], status: int) -> None:
    assert error.status == status


def test_a_field_listed_twice_is_refused() -> None:
    with pytest.raises(service.DuplicateChange, match=r"contact\.telephone1"):
        service.validate_changes(
            CATALOGUE, [change("contact", "telephone1", "none"), change("contact", "telephone1", "both")]
        )


def test_first_refusal_wins_and_messages_are_clear() -> None:
    with pytest.raises(service.NotChangeable, match="fixed at 'both'"):
        service.validate_changes(
            CATALOGUE, [change("contact", "telephone1", "none"), change("contact", "fullname", "none")]
        )
    with pytest.raises(service.UnknownEntity, match="known entities: appointment"):
        service.entity_spec(CATALOGUE, "lead")
    with pytest.raises(service.NotChangeable, match="follows the organisation setting sync_appointment_attachments"):
        service.validate_change(CATALOGUE, change("appointment", "attachments", "both"))


def test_entity_summaries_count_every_field() -> None:
    summaries = service.entity_summaries(CATALOGUE)
    assert len(summaries) == 8
    assert sum(s.field_count for s in summaries) == 98
    contact = next(s for s in summaries if s.name == "contact")
    assert contact.display_name and contact.field_count == len(CATALOGUE.entities["contact"].fields)


def test_field_views_show_current_direction_and_mapping() -> None:
    directions = CATALOGUE.default_directions()
    directions["contact"]["telephone1"] = "to_crm"
    del directions["contact"]["mobilephone"]  # missing from a policy: shown with its default
    policy = Policy(version=7, updated_at=NOW, updated_by="a", directions=directions)
    views = {v.field: v for v in service.field_views(CATALOGUE, policy, "contact")}
    assert len(views) == len(CATALOGUE.entities["contact"].fields)
    phone = views["telephone1"]
    assert (phone.direction, phone.default_direction, phone.changeable) == ("to_crm", "both", True)
    assert phone.exchange_properties == ["phone_numbers:BusinessPhone"]
    assert views["mobilephone"].direction == "both"
    assert views["fullname"].changeable is False
    assert views["fullname"].allowed_directions == ["both"]


def test_field_views_show_a_fixed_field_in_its_documented_direction_whatever_is_stored() -> None:
    """The view and the policy worker agree: a stored direction cannot move a fixed pair (effective_direction)."""
    directions = CATALOGUE.default_directions()
    directions["contact"]["fullname"] = "none"  # cannot be stored through the API; an old or hand-edited store
    policy = Policy(version=8, updated_at=NOW, updated_by="a", directions=directions)
    views = {v.field: v for v in service.field_views(CATALOGUE, policy, "contact")}
    assert views["fullname"].direction == "both"


def rule(entity: str, value: str) -> ConflictRuleChange:
    return ConflictRuleChange.model_validate({"entity": entity, "rule": value})


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ([rule(entity, CONFLICT_RULES[i % 3]) for i, entity in enumerate(CATALOGUE.entities)], None, None),
        ([rule(entity, "crm_wins") for entity in CATALOGUE.entities], None, None),
        ([], None, None),
        ([rule("lead", "latest")], service.UnknownEntity, "unknown entity 'lead'"),
        ([rule("", "latest")], service.UnknownEntity, "unknown entity"),
        ([rule("contact", "latest"), rule("contact", "crm_wins")], service.DuplicateChange, "rule of contact"),
        ([rule("task", "latest"), rule("lead", "latest"), rule("task", "latest")], service.UnknownEntity, "lead"),
    ],
)
def test_validate_rule_changes(
    changes: list[ConflictRuleChange], error: type[Exception] | None, match: str | None
) -> None:
    if error is None:
        assert service.validate_rule_changes(CATALOGUE, changes) == changes
    else:
        with pytest.raises(error, match=match):
            service.validate_rule_changes(CATALOGUE, changes)


@pytest.mark.parametrize("value", ["", "newest", "LATEST", None])
def test_an_unknown_rule_is_not_a_rule(value: object) -> None:
    with pytest.raises(ValidationError):
        ConflictRuleChange.model_validate({"entity": "contact", "rule": value})


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ({}, {}),
        ({"task": "crm_wins"}, {"task": "crm_wins"}),
        (dict.fromkeys(CATALOGUE.entities, "exchange_wins"), dict.fromkeys(CATALOGUE.entities, "exchange_wins")),
        ({"lead": "crm_wins"}, {"lead": "crm_wins"}),  # a rule for an entity the catalogue lost is still shown
    ],
)
def test_complete_policy_spells_out_every_entitys_rule(stored: dict[str, str], shown: dict[str, str]) -> None:
    policy = Policy.model_validate(
        {"version": 3, "updated_at": NOW, "updated_by": "a", "directions": {}, "conflict_rules": stored}
    )
    complete = service.complete_policy(CATALOGUE, policy)
    assert complete.conflict_rules == {**{name: "latest" for name in CATALOGUE.entities}, **shown}
    assert list(complete.conflict_rules)[:8] == list(CATALOGUE.entities)
    assert complete.model_dump(exclude={"conflict_rules"}) == policy.model_dump(exclude={"conflict_rules"})
    assert all(complete.conflict_rule(name) == policy.conflict_rule(name) for name in CATALOGUE.entities)


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"changes": [{"entity": "task", "field": "subject", "direction": "none"}]}, True),
        ({"rule_changes": [{"entity": "task", "rule": "crm_wins"}]}, True),
        ({"changes": [], "rule_changes": [{"entity": "task", "rule": "crm_wins"}], "expected_version": 4}, True),
        ({}, False),
        ({"changes": [], "rule_changes": []}, False),
        ({"rule_changes": [{"entity": "task", "rule": "crm_wins", "field": "subject"}]}, False),
        ({"rules": [{"entity": "task", "rule": "crm_wins"}]}, False),
    ],
)
def test_a_policy_change_request_names_at_least_one_change(body: dict[str, object], valid: bool) -> None:
    if valid:
        PolicyChangeRequest.model_validate(body)
    else:
        with pytest.raises(ValidationError):
            PolicyChangeRequest.model_validate(body)
