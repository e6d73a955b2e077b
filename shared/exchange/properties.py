"""The extended properties fieldsync reads and writes on Exchange items, registered once per process.

Some contact fields EWS has no first-class property for (government id, FTP site, the writable Yomi names), the
regarding record's name, and fieldsync's own marks on the items it creates (the creation marker, the CRM entity).
"""

from __future__ import annotations

import threading

from exchangelib import CalendarItem, Contact, ExtendedProperty, Task

# The extended property an item fieldsync creates carries (see FieldsyncId), set once at its creation.
CREATION_MARKER = "fieldsync_id"
# The CRM entity an item fieldsync creates in a folder of several entities stands for (see CrmEntity), as
# Dynamics stamps the items it synchronizes: what a person's client (the traffic generator) can tell them by.
# The capture classifies by the link, never by this stamp (exchange_capture/folder.py).
ENTITY_MARKER = "crm_entity"


class GovernmentId(ExtendedProperty):  # type: ignore[misc]
    property_tag = 0x3A07
    property_type = "String"


class FtpSite(ExtendedProperty):  # type: ignore[misc]
    property_tag = 0x3A4C
    property_type = "String"


class YomiFirstName(ExtendedProperty):  # type: ignore[misc]
    property_set_id = "00062004-0000-0000-C000-000000000046"  # PSETID_Address, PidLidYomiFirstName
    property_id = 0x802C
    property_type = "String"


class YomiLastName(ExtendedProperty):  # type: ignore[misc]
    property_set_id = "00062004-0000-0000-C000-000000000046"
    property_id = 0x802D
    property_type = "String"


class CrmRegarding(ExtendedProperty):  # type: ignore[misc]
    distinguished_property_set_id = "PublicStrings"
    property_name = "crm_regarding"
    property_type = "String"


class FieldsyncId(ExtendedProperty):  # type: ignore[misc]
    distinguished_property_set_id = "PublicStrings"
    property_name = "fieldsync_id"
    property_type = "String"


class CrmEntity(ExtendedProperty):  # type: ignore[misc]
    distinguished_property_set_id = "PublicStrings"
    property_name = "crm_entity"
    property_type = "String"


# The attribute every item fieldsync creates carries: a deterministic id, so a retried create finds its item.
_register_lock = threading.Lock()


def register_extended_properties() -> None:
    """Register the extended properties once per process (exchangelib keeps them on the item classes)."""
    with _register_lock:
        for item_type, name, prop in (
            (Contact, "government_id", GovernmentId),
            (Contact, "ftp_site", FtpSite),
            (Contact, "yomi_first_name", YomiFirstName),
            (Contact, "yomi_last_name", YomiLastName),
            (CalendarItem, "crm_regarding", CrmRegarding),
            (Task, "crm_regarding", CrmRegarding),
            *((item_type, CREATION_MARKER, FieldsyncId) for item_type in (Contact, CalendarItem, Task)),
            *((item_type, ENTITY_MARKER, CrmEntity) for item_type in (CalendarItem, Task)),
        ):
            if name not in {f.name for f in item_type.FIELDS}:
                item_type.register(name, prop)
