"""The settings' validation (shared.org_settings) and how the settings CLI shows them (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from services.cli import settings_view
from shared.events import OrgSettings
from shared.org_settings import (
    MEANINGS,
    NAMES,
    SettingsChange,
    SettingsError,
    differences,
    governed_note,
    parse_value,
    validated,
)


def test_every_setting_has_a_meaning_and_a_key_in_the_request_schema() -> None:
    assert set(NAMES) == set(MEANINGS) == set(SettingsChange.__annotations__) == set(OrgSettings.model_fields)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({}, None),
        ({"track_categorized_items": False}, None),
        ({name: True for name in NAMES}, None),
        ({"colour": True}, "unknown setting colour"),
        ({"colour": True, "track_categorized_items": 3}, "unknown setting colour; .*; track_categorized_items: 3 is"),
        ({"track_categorized_items": 1}, "track_categorized_items: 1 is not a boolean"),
        ({"track_categorized_items": "true"}, "'true' is not a boolean"),
        ({"track_categorized_items": None}, "None is not a boolean"),
        ([("track_categorized_items", True)], "expected a JSON object"),
        ("true", "expected a JSON object"),
    ],
)
def test_validated_is_strict_and_names_each_offender(body: Any, error: str | None) -> None:
    if error is None:
        assert validated(body) == body
        return
    with pytest.raises(SettingsError, match=error):
        validated(body)


@pytest.mark.parametrize(("raw", "value"), [("true", True), ("On", True), ("1", True), ("false", False),
                                            ("off", False), ("no", False)])  # fmt: skip
def test_cli_values(raw: str, value: bool) -> None:
    assert parse_value("track_categorized_items", raw) is value


@pytest.mark.parametrize(("name", "raw", "error"), [("colour", "true", "unknown setting colour"),
                                                    ("track_categorized_items", "maybe", "'maybe' is not a boolean")])
def test_cli_values_refused(name: str, raw: str, error: str) -> None:
    with pytest.raises(SettingsError, match=error):
        parse_value(name, raw)


def test_differences_and_the_governed_pair() -> None:
    new = OrgSettings(track_categorized_items=False, sync_appointment_attachments=True)
    assert differences(OrgSettings(), new) == [("sync_appointment_attachments", False, True),
                                               ("track_categorized_items", True, False)]
    assert "is off" in str(governed_note("appointment", "attachments", OrgSettings()))
    assert "sync both ways" in str(governed_note("appointment", "attachments", new))
    assert governed_note("appointment", "subject", new) is None
    assert governed_note("recurringappointmentmaster", "attachments", new) is None


SHOWN: dict[str, Any] = {"settings": OrgSettings().model_dump(), "meanings": MEANINGS, "version": 4,
         "updated_at": "2026-12-02T10:00:00Z", "updated_by": "admin"}  # fmt: skip


def test_render_settings() -> None:
    lines = settings_view.render_settings(SHOWN).splitlines()
    assert lines[0] == "organisation settings, policy version 4, changed 2026-12-02T10:00:00Z by admin"
    assert lines[1].split() == ["setting", "value"]
    assert [line.split() for line in lines[2:6]] == [[name, str(value).lower()] for name, value in
                                                      SHOWN["settings"].items()]
    assert f"  track_categorized_items: {MEANINGS['track_categorized_items']}" in lines


def test_render_update() -> None:
    changed = {**SHOWN, "settings": {**SHOWN["settings"], "track_categorized_items": False},
               "changes": [{"field": "track_categorized_items", "old": True, "new": False}], "version": 5}
    assert settings_view.render_update("track_categorized_items", changed) == \
        "track_categorized_items: true -> false (set, policy version 5)"
    same = {**SHOWN, "changes": []}
    assert settings_view.render_update("track_categorized_items", same) == \
        "track_categorized_items: true (unchanged, policy version 4)"
