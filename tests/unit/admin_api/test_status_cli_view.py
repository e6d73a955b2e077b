"""`fieldsync status`'s table: failing folders first, ages readable, an empty list explained."""

from __future__ import annotations

from datetime import UTC, datetime

from services.cli.status_view import age, render_status

NOW = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)


def test_ages() -> None:
    assert age(None, NOW) == "never"
    assert age("2026-12-01T11:59:55+00:00", NOW) == "5s ago"
    assert age("2026-12-01T11:48:00+00:00", NOW) == "12m ago"
    assert age("2026-11-29T12:00:00+00:00", NOW) == "2d ago"


def test_failing_folders_come_first_with_their_error_and_since_when() -> None:
    mailboxes = [
        {"mailbox": "alice@x", "folders": [
            {"folder": "Calendar", "last_success": "2026-12-01T11:59:59+00:00", "items_synced": 4, "error": None,
             "error_since": None, "failures": 0}]},
        {"mailbox": "bob@x", "folders": [
            {"folder": "Contacts", "last_success": None, "items_synced": 0, "error": "permission_denied",
             "error_since": "2026-12-01T11:00:00+00:00", "failures": 40}]},
    ]  # fmt: skip
    lines = render_status(mailboxes, NOW).splitlines()
    assert lines[0].split() == ["mailbox", "folder", "last", "sync", "items", "status", "since", "failed", "polls"]
    assert lines[1].split() == ["bob@x", "Contacts", "never", "0", "permission_denied", "1h", "ago", "40"]
    assert lines[2].split() == ["alice@x", "Calendar", "1s", "ago", "4", "ok", "-", "0"]
    assert lines[3] == "2 mailboxes, 2 folders, 1 failing"


def test_no_mailbox_yet_is_said() -> None:
    assert "no mailbox recorded yet" in render_status([], NOW)
