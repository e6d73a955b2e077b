"""Seed the sandboxes through their protocols: the organisation (business units, roles), users with their
role and mailbox, records they own.

The organisation is infra/sandbox/organisation.py's: Contoso > Sales > Sales East, Sales West; `admin` is a
System Administrator in Contoso, alice and bob Salespersons in Sales East, carol in Sales West, further users
(user4, user5, ...) Salespersons in Sales East (even) and Sales West (odd). Idempotent: units and roles are
found by name, users by `internalemailaddress` (moved to their unit when elsewhere), mailboxes are created
with the sandbox's idempotent admin endpoint, and records carry ids derived from their owner and index
(uuid5), so a second run finds them and creates nothing. Records are written as their owner
(MSCRMCallerID), like a person using Dynamics, not as the fieldsync application user; that is why every
user gets a role first (a user with no role can do nothing).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx

from infra.sandbox.organisation import (
    ROOT_UNIT,
    SALESPERSON,
    SYSTEM_ADMINISTRATOR,
    assign_role,
    organisation_roles,
    organisation_units,
)
from shared.crm.client import CrmClient, NotFound
from shared.settings import CrmSettings, ExchangeSettings

DEFAULT_USERS = ("alice", "bob", "carol")
ADMIN_USER = "admin"
DOMAIN = "sandbox.local"
USER_UNITS = {"alice": "Sales East", "bob": "Sales East", "carol": "Sales West"}
SEED_NAMESPACE = uuid.UUID("5b1d0c2e-7f3a-4c55-9a6e-0f1e2d3c4b5a")
Progress = Callable[[str], None]

_PEOPLE = [
    ("Maria", "Garcia", "Procurement Manager", "Contoso Ltd"),
    ("James", "Okafor", "Head of Operations", "Fabrikam Inc"),
    ("Yuki", "Tanaka", "Account Executive", "Northwind Traders"),
    ("Lena", "Fischer", "CFO", "Adventure Works"),
    ("Omar", "Haddad", "IT Director", "Litware"),
    ("Priya", "Nair", "Buyer", "Tailspin Toys"),
]
_CITIES = [("Seattle", "WA", "98101"), ("Redmond", "WA", "98052"), ("Portland", "OR", "97205")]
_MEETINGS = ["Quarterly business review", "Contract renewal", "Product demo", "Kick-off"]
_TASKS = ["Send the proposal", "Follow up on the quote", "Prepare the renewal", "Book the site visit"]


class SandboxClientSettings(CrmSettings, ExchangeSettings):
    """Both connectors' settings: what seed and traffic need to reach the two sandboxes."""


@dataclass
class SeedReport:
    """What the seed found and created: user name -> systemuserid, mailboxes, records created/existing."""

    users: dict[str, str] = field(default_factory=dict)
    mailboxes: list[str] = field(default_factory=list)
    created: int = 0
    existing: int = 0

    def summary(self) -> str:
        return (
            f"{len(self.users)} users, {len(self.mailboxes)} mailboxes, "
            f"{self.created} records created, {self.existing} already there"
        )


def user_names(count: int | None) -> list[str]:
    """The default three, or `count` users: alice, bob, carol, then user4..userN."""
    if count is None:
        return list(DEFAULT_USERS)
    return [*DEFAULT_USERS[:count], *(f"user{k}" for k in range(len(DEFAULT_USERS) + 1, count + 1))]


def address_of(name: str) -> str:
    return f"{name}@{DOMAIN}"


def ews_admin_url(ews_url: str) -> str:
    parts = urlsplit(ews_url)
    return f"{parts.scheme}://{parts.netloc}/_sandbox/mailboxes"


def _record_id(owner: str, kind: str, index: int) -> str:
    return str(uuid.uuid5(SEED_NAMESPACE, f"{owner}:{kind}:{index}"))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def records_for(name: str, number: int, now: datetime) -> list[tuple[str, dict[str, Any]]]:
    """(entity set, body) of the records one user owns: 2 contacts, 2 appointments, 2 tasks (canonical
    shapes: ISO UTC datetimes with Z, date-only birthdays, option-set ints, attendees as email lists)."""
    day = now.replace(hour=9, minute=0, second=0, microsecond=0) + timedelta(days=1)
    mailbox = address_of(name)
    records: list[tuple[str, dict[str, Any]]] = []
    for index in range(2):
        first, last, title, company = _PEOPLE[(number * 2 + index) % len(_PEOPLE)]
        city, state, postcode = _CITIES[(number + index) % len(_CITIES)]
        records.append(("contacts", {
            "contactid": _record_id(name, "contact", index),
            "firstname": first, "lastname": last, "jobtitle": title, "department": "Purchasing",
            "emailaddress1": f"{first}.{last}@example.com".lower(),
            "telephone1": f"+1 206 555 01{number % 10}{index}", "mobilephone": f"+1 425 555 02{number % 10}{index}",
            "address1_line1": f"{100 + number * 10 + index} Main Street", "address1_city": city,
            "address1_stateorprovince": state, "address1_postalcode": postcode, "address1_country": "USA",
            "birthdate": f"19{70 + number % 20}-0{index + 3}-1{number % 10}",
            "description": f"Key contact at {company}.",
        }))
    for index in range(2):
        start = day + timedelta(days=index * 2, hours=number % 6)
        records.append(("appointments", {
            "activityid": _record_id(name, "appointment", index),
            "subject": f"{_MEETINGS[(number + index) % len(_MEETINGS)]} ({name})",
            "location": f"Room {number + 1}0{index + 1}",
            "scheduledstart": _iso(start), "scheduledend": _iso(start + timedelta(minutes=60)),
            "scheduleddurationminutes": 60, "isalldayevent": False, "prioritycode": 1,
            "organizer": mailbox, "requiredattendees": [mailbox], "optionalattendees": [],
            "description": "Agenda: status, open questions, next steps.",
        }))
    for index in range(2):
        due = day + timedelta(days=3 + index * 4)
        records.append(("tasks", {
            "activityid": _record_id(name, "task", index),
            "subject": f"{_TASKS[(number + index) % len(_TASKS)]} ({name})",
            "scheduledstart": _iso(due - timedelta(days=2)), "scheduledend": _iso(due),
            "prioritycode": 2 if index == 0 else 1, "percentcomplete": 0,
            "description": "Created by the sandbox seed.",
        }))
    return records


def unit_of(name: str) -> str:
    """The business unit a seeded user belongs to."""
    if name == ADMIN_USER:
        return ROOT_UNIT
    number = int(name[4:]) if name.startswith("user") and name[4:].isdigit() else 0
    return USER_UNITS.get(name, "Sales East" if number % 2 == 0 else "Sales West")


async def _user(crm: CrmClient, name: str, unit_id: str) -> tuple[str, bool]:
    bind = {"businessunitid@odata.bind": f"/businessunits({unit_id})"}
    found = await crm.user_by_email(address_of(name))
    if found:
        current = await crm.get("systemusers", found, ["_businessunitid_value"])
        if current.get("_businessunitid_value") != unit_id:
            await crm.update("systemusers", found, bind)
        return found, False
    body = {
        "firstname": name.capitalize(), "lastname": "Sandbox", "domainname": address_of(name),
        "internalemailaddress": address_of(name), **bind,
    }
    return str((await crm.create("systemusers", body))["systemuserid"]), True


async def _mailbox(http: httpx.AsyncClient, url: str, name: str) -> None:
    response = await http.post(url, json={"address": address_of(name), "display_name": f"{name.capitalize()} Sandbox"})
    response.raise_for_status()


async def _record(crm: CrmClient, entity_set: str, body: dict[str, Any], user_id: str, report: SeedReport) -> None:
    key = "contactid" if entity_set == "contacts" else "activityid"
    try:
        await crm.get(entity_set, body[key], [key])
        report.existing += 1
        return
    except NotFound:
        pass  # not seeded yet: create it below
    await crm.create(entity_set, {**body, "ownerid@odata.bind": f"/systemusers({user_id})"})
    report.created += 1


async def _owned_records(settings: CrmSettings, name: str, number: int, user_id: str, report: SeedReport) -> None:
    async with CrmClient.from_settings(settings, caller_id=user_id) as crm:
        records = records_for(name, number, datetime.now(UTC))
        await asyncio.gather(*(_record(crm, entity_set, body, user_id, report) for entity_set, body in records))


async def seed(settings: SandboxClientSettings, users: list[str] | tuple[str, ...] = DEFAULT_USERS,
               progress: Progress = print) -> SeedReport:
    """Create what is missing (see the module docstring); returns what exists afterwards."""
    report = SeedReport()
    admin_url = ews_admin_url(settings.ews_url)
    async with CrmClient.from_settings(settings) as crm, httpx.AsyncClient(timeout=10.0) as http:
        units = await organisation_units(crm)
        progress("business units: " + ", ".join(f"{name} ({unit})" for name, unit in units.items()))
        roles = await organisation_roles(crm, units[ROOT_UNIT])
        progress("roles: " + ", ".join(roles))
        for name in [ADMIN_USER, *users]:
            user_id, created = await _user(crm, name, units[unit_of(name)])
            await assign_role(crm, user_id, roles[SYSTEM_ADMINISTRATOR if name == ADMIN_USER else SALESPERSON])
            await _mailbox(http, admin_url, name)
            report.users[name] = user_id
            report.mailboxes.append(address_of(name))
            progress(f"user {address_of(name)}: {'created' if created else 'exists'} ({user_id}), mailbox ready")
    # The records of all users at once: the requests are independent and mostly wait on the network.
    await asyncio.gather(*(
        _owned_records(settings, name, number, report.users[name], report)
        for number, name in enumerate(users, start=1)
    ))
    progress(f"seed done: {report.summary()}")
    return report
