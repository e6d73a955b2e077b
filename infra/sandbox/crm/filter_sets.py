"""Sync filters as Dynamics stores them: `userqueries` and `savedqueries`, their checks and default templates.

A user's sync filters are `userquery` rows of querytype 256 (OutlookFilters) owned by the user; system
filters, applying to every user, are `savedquery` rows of querytype 256; the templates copied into a user's
filters when the mailbox is first synced are `savedquery` rows of querytype 131072 (OutlookTemplate) with
`isdefault` true (SavedQueryQueryType, Dynamics SDK). `returnedtypecode` is the logical name of the table the
FetchXML queries. A userquery is user-owned (prv...UserQuery, Basic depth and up); a savedquery belongs to the
organisation (prv...Query, Global only). Both have statecode 0 (active) / 1 (inactive), as in Dynamics.
"""

from __future__ import annotations

import uuid
from typing import Any
from xml.etree import ElementTree

from infra.sandbox.crm.entity_set import EntitySet
from infra.sandbox.crm.odata import INVALID_ARGUMENT, bad_request

OUTLOOK_FILTERS, OUTLOOK_TEMPLATE = 256, 131072
FILTER_SET_NAMES = frozenset({"userqueries", "savedqueries"})
# (statecode, statuscode) on create: Active / Active.
FILTER_STATES = {"userquery": (0, 1), "savedquery": (0, 1)}
_QUERY = frozenset({"name", "fetchxml", "querytype", "returnedtypecode", "description", "layoutxml"})


def filter_sets() -> dict[str, EntitySet]:
    """The two entity sets, by entity set name."""
    found = [
        EntitySet(name="userqueries", logical_name="userquery", key="userqueryid", writable=_QUERY,
                  lookups=frozenset({"ownerid"}), privilege_entity="UserQuery"),
        EntitySet(name="savedqueries", logical_name="savedquery", key="savedqueryid",
                  writable=_QUERY | {"isdefault"}, lookups=frozenset(), privilege_entity="Query"),
    ]  # fmt: skip
    return {spec.name: spec for spec in found}


def check_query(row: dict[str, Any], tables: frozenset[str]) -> None:
    """A 400 unless the row names a known table and holds FetchXML querying that table (as Dynamics validates
    on create and update; operators are not checked here: what fieldsync can evaluate is its own concern)."""
    table, querytype, fetchxml = row.get("returnedtypecode"), row.get("querytype"), row.get("fetchxml")
    if table not in tables:
        raise bad_request(f"Invalid returnedtypecode {table!r}: the logical name of a table.", INVALID_ARGUMENT)
    if not isinstance(querytype, int) or isinstance(querytype, bool):
        raise bad_request(f"Invalid querytype {querytype!r}: an integer (256: OutlookFilters).", INVALID_ARGUMENT)
    if not isinstance(fetchxml, str) or not fetchxml.strip():
        raise bad_request("A query needs its fetchxml.", INVALID_ARGUMENT)
    try:
        root = ElementTree.fromstring(fetchxml)
    except ElementTree.ParseError as error:
        raise bad_request(f"The fetchxml is not well-formed XML: {error}.", INVALID_ARGUMENT) from None
    entity = root.find("entity")
    if root.tag != "fetch" or entity is None or entity.get("name") != table:
        raise bad_request(f"The fetchxml must be <fetch><entity name=\"{table}\">, the returnedtypecode's table.",
                          INVALID_ARGUMENT)  # fmt: skip
    if "isdefault" in row and not isinstance(row["isdefault"], bool):
        raise bad_request(f"Invalid isdefault {row['isdefault']!r}: true or false.", INVALID_ARGUMENT)


_OWNED = '<condition attribute="ownerid" operator="eq-userid" />'
_ACTIVE = '<condition attribute="statecode" operator="eq" value="0" />'
# The default templates: (table, name, primary attribute, conditions), one per synced table.
TEMPLATES = (
    ("contact", "My Active Contacts", "fullname", _OWNED + _ACTIVE),
    ("appointment", "My Appointments", "subject", _OWNED),
    ("recurringappointmentmaster", "My Recurring Appointments", "subject", _OWNED),
    ("task", "My Tasks", "subject", _OWNED),
    ("phonecall", "My Phone Calls", "subject", _OWNED),
    ("letter", "My Letters", "subject", _OWNED),
    ("fax", "My Faxes", "subject", _OWNED),
    ("serviceappointment", "My Service Activities", "subject", _OWNED),
)
_TEMPLATE_IDS = uuid.UUID("5b0f3c7e-2a64-4d9b-8e21-7c3f9a1d4b60")


def template_fetchxml(table: str, column: str, conditions: str) -> str:
    return (f'<fetch version="1.0" output-format="xml-platform" mapping="logical" distinct="false">'
            f'<entity name="{table}"><attribute name="{column}" /><order attribute="{column}" descending="false" />'
            f'<filter type="and">{conditions}</filter></entity></fetch>')  # fmt: skip


def template_rows() -> list[dict[str, Any]]:
    """The default OutlookTemplate savedqueries every organisation starts with (stable ids)."""
    return [
        {"savedqueryid": str(uuid.uuid5(_TEMPLATE_IDS, table)), "name": name, "querytype": OUTLOOK_TEMPLATE,
         "returnedtypecode": table, "fetchxml": template_fetchxml(table, column, conditions), "isdefault": True,
         "description": f"The default sync filter for {table} records", "statecode": 0, "statuscode": 1}
        for table, name, column, conditions in TEMPLATES
    ]  # fmt: skip
