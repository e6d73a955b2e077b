"""Turns the documented Dynamics field tables into the catalogue data file fieldsync owns.

Usage: python -m infra.catalogue.build PATH/TO/dynamics_fields.json > shared/data/catalogue.json

The reference gives, per entity, the documented field pairs with default and settable directions.
This adds what the reference leaves open: the field key, the CRM attributes a pair covers, and the
Exchange (EWS, as exchangelib names them) properties it maps to.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

DISPLAY_NAMES = {
    "appointment": "Appointment",
    "contact": "Contact",
    "task": "Task",
    "phonecall": "Phone Call",
    "letter": "Letter",
    "fax": "Fax",
    "recurringappointmentmaster": "Recurring Appointment",
    "serviceappointment": "Service Activity",
}
EXCHANGE_ITEM = {
    "appointment": "CalendarItem",
    "recurringappointmentmaster": "CalendarItem",
    "serviceappointment": "CalendarItem",
    "contact": "Contact",
    "task": "Task",
    "phonecall": "Task",
    "letter": "Task",
    "fax": "Task",
}
EXCHANGE_FOLDER = {"CalendarItem": "calendar", "Contact": "contacts", "Task": "tasks"}

# Exchange properties per Outlook field, named as exchangelib names them. "phone_numbers:Key" and
# "email_addresses:Key" address one entry of an indexed property; "physical_addresses:Key" a whole
# address; "extended:Name" a MAPI extended property fieldsync registers with exchangelib.
CONTACT_PROPS = {
    "Anniversary": ["wedding_anniversary"],
    "Assistant's Name": ["assistant_name"],
    "Assistant's Phone": ["phone_numbers:AssistantPhone"],
    "Birthday": ["birthday"],
    "Business Fax": ["phone_numbers:BusinessFax"],
    "Business Phone": ["phone_numbers:BusinessPhone"],
    "Business Phone 2": ["phone_numbers:BusinessPhone2"],
    "Callback": ["phone_numbers:Callback"],
    "Children": ["children"],
    "Company Main Phone": ["phone_numbers:CompanyMainPhone"],
    "Department": ["department"],
    "E-mail": ["email_addresses:EmailAddress1"],
    "E-mail 2": ["email_addresses:EmailAddress2"],
    "E-mail 3": ["email_addresses:EmailAddress3"],
    "FTP Site": ["extended:ftp_site"],
    "Full Name": ["given_name", "middle_name", "surname", "display_name"],
    "Government ID Number": ["extended:government_id"],
    "Home Address": ["physical_addresses:Home"],
    "Home Phone": ["phone_numbers:HomePhone"],
    "Home Phone 2": ["phone_numbers:HomePhone2"],
    "Job Title": ["job_title"],
    "Mailing Address/Business Address": ["physical_addresses:Business"],
    "Manager's Name": ["manager"],
    "Mobile": ["phone_numbers:MobilePhone"],
    "Nickname": ["nickname"],
    "Notes": ["body"],
    "Other Address": ["physical_addresses:Other"],
    "Other Phone": ["phone_numbers:OtherTelephone"],
    "Pager": ["phone_numbers:Pager"],
    "Parent (Regarding)": ["company_name"],
    "Spouse/Partner": ["spouse_name"],
    "Web Page": ["business_homepage"],
    "Yomi First Name": ["phonetic_first_name"],
    "Yomi Last Name": ["phonetic_last_name"],
}
CALENDAR_PROPS = {
    "Appointment Time": ["start", "end", "duration", "is_all_day"],
    "Attachments": ["attachments"],
    "Body": ["body"],
    "Notes": ["body"],
    "Importance": ["importance"],
    "Location": ["location"],
    "Optional Attendees": ["optional_attendees"],
    "Organizer": ["organizer"],
    "Regarding": ["extended:crm_regarding"],
    "Required Attendees": ["required_attendees"],
    "Show Time As": ["legacy_free_busy_status"],
    "Subject": ["subject"],
    "Recurrence Pattern": ["recurrence"],
}
TASK_PROPS = {
    "% Complete": ["percent_complete"],
    "Date Completed": ["complete_date"],
    "Due Date": ["due_date"],
    "Importance": ["importance"],
    "Notes": ["body"],
    "Regarding": ["extended:crm_regarding"],
    "Start Date": ["start_date"],
    "Status": ["status"],
    "Subject": ["subject"],
}
PROPS = {"Contact": CONTACT_PROPS, "CalendarItem": CALENDAR_PROPS, "Task": TASK_PROPS}
# Full Name is one attribute in the tables; in CRM it is computed from these, which are what sync.
FULLNAME_ATTRIBUTES = ["firstname", "middlename", "lastname"]
ALL_DIRECTIONS = ["both", "to_exchange", "to_crm", "none"]
ACTIVITIES = ("appointment", "task", "phonecall", "letter", "fax", "recurringappointmentmaster", "serviceappointment")
TASK_LIKE = ("task", "phonecall", "letter", "fax")
CALENDAR = ("appointment", "recurringappointmentmaster", "serviceappointment")
# Pairs one side can never write, and why: the field view says so, the policy decides that direction
# `unmapped`, and no delta carries the field to that side (nothing reaches an applier to be dropped).
ORGANIZER = ("EWS cannot change an item's organizer (the mailbox that creates a calendar item organizes it): "
             "the CRM organizer never reaches Exchange; Exchange's organizer flows to CRM where the direction allows.")
COMPLETE_DATE = ("EWS's CompleteDate is read-only (Exchange sets it when the task is marked complete): CRM's actual "
                 "end never reaches Exchange; the date Exchange sets flows to CRM where the direction allows.")
REGARDING = ("Exchange holds the regarding record's display name as text (the Regarding field); a name cannot be "
             "bound to a CRM record, so the regarding record flows CRM to Exchange only (Set Regarding is done in "
             "CRM).")
PARENT = ("Outlook's Company is free text, CRM's parent customer a lookup to an account or contact: the parent's "
          "name becomes the Company, but a typed company name cannot be bound to a record, so it never reaches CRM.")
UNWRITABLE: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("contact", "parentcustomerid"): (("crm",), PARENT),
    **{(entity, "organizer"): (("exchange",), ORGANIZER) for entity in CALENDAR},
    **{(entity, "actualend"): (("exchange",), COMPLETE_DATE) for entity in TASK_LIKE},
    **{(entity, "regardingobjectid"): (("crm",), REGARDING) for entity in ACTIVITIES},
}

# Pairs whose values live in a related table, not in attributes of the row, and whose direction an organisation
# setting computes (the synchronized-fields dialog shows it, never changes it): appointment attachments are the
# appointment's activitymimeattachments, two-way while sync_appointment_attachments is on, else `none`.
GOVERNED: dict[tuple[str, str], dict[str, Any]] = {
    ("appointment", "attachments"): {"crm_related": "activitymimeattachments",
                                     "governed_by": "sync_appointment_attachments"},
}  # fmt: skip


def snake(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def field_entry(entity: str, row: dict[str, Any]) -> dict[str, Any]:
    item_class = EXCHANGE_ITEM[entity]
    attribute = row.get("crm_attribute")
    multi = row.get("crm_attributes")
    key = attribute if attribute else snake(row["crm_field"])
    if multi:
        attributes = list(multi)
    elif attribute == "fullname":
        attributes = FULLNAME_ATTRIBUTES
    elif attribute:
        attributes = [attribute]
    else:
        attributes = []
    if attribute and attribute.endswith("_composite") and multi:
        attributes = list(multi)
    settable = row["settable_directions"]
    changeable = bool(row["changeable"])
    allowed = list(settable) if changeable and isinstance(settable, list) else [row["default_direction"]]
    return {
        "key": key,
        "crm_field": row["crm_field"],
        "crm_attributes": attributes,
        "exchange_field": row["exchange_field"],
        "exchange_properties": PROPS[item_class][row["exchange_field"]],
        "default_direction": row["default_direction"],
        "changeable": changeable,
        "allowed_directions": [d for d in ALL_DIRECTIONS if d in allowed],
        "note": row.get("note"),
        **writability(entity, key),
        **GOVERNED.get((entity, key), {}),
    }


def writability(entity: str, key: str) -> dict[str, Any]:
    """`crm_writable` / `exchange_writable` (False: that side can never be written) and the reason why."""
    sides, reason = UNWRITABLE.get((entity, key), ((), None))
    return {"crm_writable": "crm" not in sides, "exchange_writable": "exchange" not in sides, "writable_note": reason}


def build(reference: dict[str, Any]) -> dict[str, Any]:
    entities = {}
    for entity, rows in reference["entities"].items():
        info = reference["entity_info"][entity]
        item_class = EXCHANGE_ITEM[entity]
        entities[entity] = {
            "display_name": DISPLAY_NAMES[entity],
            "entity_set": info["web_api_entity_set"],
            "key_attribute": "contactid" if entity == "contact" else "activityid",
            "exchange_item_class": item_class,
            "exchange_folder": EXCHANGE_FOLDER[item_class],
            "fields": [field_entry(entity, row) for row in rows],
        }
    return {"source": "dynamics_fields.json (Microsoft docs: what-fields-synchronized-outlook.md)",
            "entities": entities}


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as fh:
        json.dump(build(json.load(fh)), sys.stdout, indent=1, ensure_ascii=False)
        sys.stdout.write("\n")
