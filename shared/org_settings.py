"""The organisation's sync settings as people see and change them: names, meanings, validation (pure, no I/O).

The settings themselves are `shared.events.OrgSettings`, stored in the policy (versioned and audited with it).
This module is what the admin API and the CLI share about them: what each one means, how a change of some of
them is checked (unknown names and anything but a JSON boolean are refused, naming each offender, so that a
request is applied whole or not at all), and the sentence that says why the appointment attachments pair,
which a setting governs, does not sync while that setting is off.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ConfigDict, StrictBool, with_config
from typing_extensions import TypedDict

from shared.events import OrgSettings

MEANINGS: dict[str, str] = {
    "distinct_physical_and_logical_deletes": (
        "a record that leaves a mailbox's scope (reassigned, deactivated, access lost) unlinks the mailbox item "
        "(it stays, without the tracking category) instead of deleting it; CRM deletes follow the delete table"
    ),
    "delete_exchange_tasks_in_crm": (
        "a task, phone call, letter or fax deleted in Exchange deletes the CRM record; off: the record stays and "
        "the link is dropped"
    ),
    "sync_appointment_attachments": (
        "the files attached to appointments sync both ways (CRM activitymimeattachments <-> Exchange file "
        "attachments, up to the size cap); recurring appointments and service activities never sync attachments"
    ),
    "track_categorized_items": (
        "the 'Tracked to Dynamics 365' category tracks Outlook items to CRM (and removing it untracks); off: the "
        "category tracks nothing and linked items keep syncing"
    ),
}
NAMES: tuple[str, ...] = tuple(OrgSettings.model_fields)
# The one field pair a setting governs: appointment attachments (sync-semantics 1).
ATTACHMENTS = ("appointment", "attachments")


@with_config(ConfigDict(extra="forbid"))
class SettingsChange(TypedDict, total=False):
    """Some of the settings, each a JSON boolean: the body of `PUT /api/v1/settings` (its OpenAPI schema) and the
    `settings` of `PUT /api/v1/policy`. Its keys are OrgSettings' (a unit test holds them equal)."""

    distinct_physical_and_logical_deletes: StrictBool
    delete_exchange_tasks_in_crm: StrictBool
    sync_appointment_attachments: StrictBool
    track_categorized_items: StrictBool


class SettingsError(ValueError):
    """A settings change that names an unknown setting or gives a value that is not a boolean."""


def parse_value(name: str, raw: str) -> bool:
    """A CLI value: `true`/`false` (also on/off, yes/no, 1/0), else SettingsError naming the setting."""
    check_names([name])
    words = {"true": True, "on": True, "yes": True, "1": True, "false": False, "off": False, "no": False, "0": False}
    value = words.get(raw.strip().lower())
    if value is None:
        raise SettingsError(f"{name}: {raw!r} is not a boolean; use true or false")
    return value


def check_names(names: list[str]) -> None:
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        raise SettingsError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
                            f"known settings: {', '.join(NAMES)}")  # fmt: skip


def validated(requested: object) -> dict[str, bool]:
    """A request's settings as {name: value}; every problem of it in one SettingsError (so nothing of a bad
    request is applied). Strict: only JSON booleans, not 0/1 or "true"."""
    if not isinstance(requested, Mapping):
        raise SettingsError("expected a JSON object of setting: true|false; known settings: " + ", ".join(NAMES))
    problems = []
    try:
        check_names([str(name) for name in requested])
    except SettingsError as exc:
        problems.append(str(exc))
    wrong = [f"{name}: {value!r} is not a boolean" for name, value in requested.items()
             if name in NAMES and not isinstance(value, bool)]  # fmt: skip
    if wrong:
        problems.append("; ".join(wrong) + " (use true or false)")
    if problems:
        raise SettingsError("; ".join(problems))
    return {str(name): bool(value) for name, value in requested.items()}


def differences(old: OrgSettings, new: OrgSettings) -> list[tuple[str, bool, bool]]:
    """(name, old, new) of every setting that differs, in declaration order."""
    pairs = ((name, getattr(old, name), getattr(new, name)) for name in NAMES)
    return [(name, was, now) for name, was, now in pairs if was != now]


def governed_note(entity: str, key: str, settings: OrgSettings) -> str | None:
    """What the setting governing a pair makes of it (the attachments pair: off, `none`; on, both ways); None
    for every other pair."""
    if (entity, key) != ATTACHMENTS:
        return None
    if settings.sync_appointment_attachments:
        return "the organisation setting sync_appointment_attachments is on, so appointment attachments sync both ways"
    return "the organisation setting sync_appointment_attachments is off, so appointment attachments stay `none`"
