"""The field catalogue: every documented pair is there, keys follow the rule, directions are consistent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shared.catalogue import load_catalogue
from shared.events import DIRECTIONS

CATALOGUE = load_catalogue()
ALL_FIELDS = [(name, f) for name, spec in CATALOGUE.entities.items() for f in spec.fields]
REFERENCE = Path(__file__).resolve().parents[4] / "shared" / "reference" / "dynamics_fields.json"


def test_eight_entities_and_98_field_pairs() -> None:
    assert set(CATALOGUE.entities) == {
        "appointment", "contact", "task", "phonecall", "letter", "fax",
        "recurringappointmentmaster", "serviceappointment",
    }
    assert len(ALL_FIELDS) == 98
    counts = {name: len(spec.fields) for name, spec in CATALOGUE.entities.items()}
    assert counts == {
        "appointment": 11, "contact": 34, "task": 9, "phonecall": 8, "letter": 8, "fax": 8,
        "recurringappointmentmaster": 10, "serviceappointment": 10,
    }


@pytest.mark.parametrize(("entity", "field"), ALL_FIELDS, ids=[f"{e}.{f.key}" for e, f in ALL_FIELDS])
def test_every_pair_is_complete_and_consistent(entity: str, field) -> None:  # type: ignore[no-untyped-def]
    assert field.key and field.key == field.key.lower() and " " not in field.key
    assert field.exchange_properties, "every pair names what it maps to (the dialog's hover text)"
    assert field.default_direction in DIRECTIONS
    assert field.default_direction in field.allowed_directions
    if field.changeable:
        assert len(field.allowed_directions) > 1
    else:
        assert field.allowed_directions == (field.default_direction,)


def test_keys_are_unique_within_an_entity() -> None:
    for spec in CATALOGUE.entities.values():
        keys = [f.key for f in spec.fields]
        assert len(keys) == len(set(keys)), spec.name


def test_multi_attribute_pairs_use_snake_case_names() -> None:
    appointment = CATALOGUE.entities["appointment"]
    time = appointment.field("appointment_time")
    assert time is not None
    assert time.crm_attributes == ("scheduledstart", "scheduledend", "scheduleddurationminutes", "isalldayevent")
    assert CATALOGUE.entities["task"].field("status") is not None
    assert appointment.field("attachments") is not None
    assert CATALOGUE.entities["contact"].field_for_attribute("address1_city").key == "address1_composite"


def test_service_activity_is_fixed_to_exchange() -> None:
    spec = CATALOGUE.entities["serviceappointment"]
    assert all(f.default_direction == "to_exchange" and not f.changeable for f in spec.fields)


@pytest.mark.skipif(not REFERENCE.exists(), reason="the Dynamics reference tables are not beside this checkout")
def test_catalogue_is_what_the_builder_makes_from_the_reference() -> None:
    from infra.catalogue.build import build

    built = build(json.loads(REFERENCE.read_text(encoding="utf-8")))
    stored = json.loads(Path("shared/data/catalogue.json").read_text(encoding="utf-8"))
    assert built == stored
