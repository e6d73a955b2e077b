"""Restarting any one pipeline service mid-stream loses no change and duplicates no item.

Each service is restarted twice over: once stopped gracefully (SIGTERM: it commits what it finished), once
killed (SIGKILL: a crash between any two steps, which at-least-once delivery with idempotent effects must
replay harmlessly).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from exchangelib import Task

from infra.runner.process import ManagedProcess
from infra.runner.stack import Stack
from tests.e2e.conftest import ALICE, Crm, Mailboxes
from tests.support import eventually

pytestmark = pytest.mark.e2e
TRACKING_CATEGORY = "Tracked to Dynamics 365"


def service(stack: Stack, name: str) -> ManagedProcess:
    return next(p for p in stack.processes if p.name == name)


def across_a_restart(stack: Stack, name: str, make: Callable[[int], None], how: str) -> None:
    """One item before the stop, one while the service is down, one after it started again."""
    proc = service(stack, name)
    make(0)
    if how == "kill":
        proc.kill()
    else:
        proc.stop()
    make(1)
    proc.start()
    make(2)


@pytest.mark.parametrize("how", ["stop", "kill"])
@pytest.mark.parametrize("name", ["crm_capture", "policy", "exchange_applier"])
def test_crm_to_exchange_survives_a_restart(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, tag: str, name: str, how: str
) -> None:
    def make(index: int) -> None:
        crm.create("contacts", ALICE, {"firstname": "R", "lastname": f"Restart-{tag}-{index}", "telephone1": "+1 7"})

    across_a_restart(stack, name, make, how)
    for index in range(3):
        mailboxes.one(ALICE, "contacts", timeout=60, surname=f"Restart-{tag}-{index}")
    assert len(mailboxes.find(ALICE, "contacts", surname__startswith=f"Restart-{tag}-")) == 3


@pytest.mark.parametrize("how", ["stop", "kill"])
@pytest.mark.parametrize("name", ["exchange_capture", "crm_applier"])
def test_exchange_to_crm_survives_a_restart(
    stack: Stack, crm: Crm, mailboxes: Mailboxes, tag: str, name: str, how: str
) -> None:
    account = mailboxes.account(ALICE)
    due = (datetime.now(UTC) + timedelta(days=3)).date()

    def make(index: int) -> None:
        subject = f"Restart-{tag}-{name}-{how}-{index}"
        Task(
            account=account, folder=account.tasks, subject=subject, categories=[TRACKING_CATEGORY], due_date=due
        ).save()

    across_a_restart(stack, name, make, how)
    for index in range(3):
        subject = f"Restart-{tag}-{name}-{how}-{index}"
        found = eventually(lambda s=subject: crm.find("tasks", "subject", s), timeout=60, what=subject)
        assert len(found) == 1, found
