"""Entity sets of the sandbox and their attributes, derived from the field catalogue (pure, no I/O)."""

from __future__ import annotations

from functools import cache

from infra.sandbox.crm.entity_set import SYSTEM_ATTRIBUTES, EntitySet
from infra.sandbox.crm.filter_sets import FILTER_STATES, filter_sets
from infra.sandbox.crm.security_sets import security_sets
from shared.catalogue import load_catalogue

__all__ = [
    "ATTACHMENTS", "SYSTEM_ATTRIBUTES", "EntitySet", "bind_targets", "entity_sets", "record_sets",
    "set_of_logical_name",
]  # fmt: skip

# Lookups are read as `_<name>_value` and written with `<name>[_<target>]@odata.bind`.
LOOKUPS = frozenset({"regardingobjectid", "parentcustomerid", "ownerid", "businessunitid"})
ACTIVITY = "Activity"  # every activity table shares the Activity privileges (see privileges.py)
CONTACT_NAME_PARTS = ("firstname", "lastname", "middlename")

# Default (statecode, statuscode) on create, from the documented state/status pairs of each entity:
# appointment and recurring appointment: Scheduled(3)/Busy(5); service activity: Open(0)/Requested(1);
# task: Open(0)/Not Started(2); phone call, letter, fax: Open(0)/Open(1); contact: Active(0)/Active(1).
DEFAULT_STATE = {
    "contact": (0, 1),
    "appointment": (3, 5),
    "recurringappointmentmaster": (3, 5),
    "serviceappointment": (0, 1),
    "task": (0, 2),
    "phonecall": (0, 1),
    "letter": (0, 1),
    "fax": (0, 1),
    **FILTER_STATES,
}


# Attributes of the activity tables that are not synced but that their records carry (entity references:
# phonecall, letter, fax, serviceappointment), so that seeds and tests write what Dynamics would hold.
EXTRA_ATTRIBUTES = {
    "phonecall": {"phonenumber", "directioncode", "actualdurationminutes"},
    "letter": {"address", "directioncode"},
    "fax": {"faxnumber", "numberofpages", "coverpagename", "directioncode"},
    "serviceappointment": {"isalldayevent", "actualstart", "actualend"},
}


def _from_catalogue() -> dict[str, EntitySet]:
    sets: dict[str, EntitySet] = {}
    for logical_name, spec in load_catalogue().entities.items():
        attributes: set[str] = set()
        for pair in spec.fields:
            attributes.update(pair.crm_attributes)
            if len(pair.crm_attributes) <= 1:
                attributes.add(pair.key)
        attributes.update(EXTRA_ATTRIBUTES.get(logical_name, ()))
        computed: set[str] = set()
        if logical_name == "contact":
            attributes.update(CONTACT_NAME_PARTS)
            computed = {"fullname", "address1_composite", "address2_composite", "address3_composite"}
        attributes -= computed | {"statecode", "statuscode", spec.key_attribute}
        lookups = {a for a in attributes if a in LOOKUPS} | {"ownerid"}
        sets[spec.entity_set] = EntitySet(
            name=spec.entity_set,
            logical_name=logical_name,
            key=spec.key_attribute,
            writable=frozenset(attributes - lookups),
            lookups=frozenset(lookups),
            computed=frozenset(computed),
            privilege_entity="Contact" if logical_name == "contact" else ACTIVITY,
        )
    return sets


# Accounts are not synced, but the synced tables' lookups name them: a contact's parent customer, an activity's
# regarding. Their attributes are the Web API's (account entity reference), a few of them.
ACCOUNTS = EntitySet(
    name="accounts", logical_name="account", key="accountid",
    writable=frozenset({"name", "accountnumber", "telephone1", "emailaddress1", "websiteurl", "description",
                        "address1_city", "address1_country"}),
    lookups=frozenset({"ownerid", "parentaccountid"}), privilege_entity="Account",
)  # fmt: skip
# File attachments of activities (activitymimeattachment entity reference): no owner, no state, secured through
# their parent activity; served by attachments.py rather than the generic handlers, so not in entity_sets().
ATTACHMENTS = EntitySet(
    name="activitymimeattachments", logical_name="activitymimeattachment", key="activitymimeattachmentid",
    writable=frozenset({"filename", "mimetype", "body", "subject", "objecttypecode", "attachmentnumber"}),
    lookups=frozenset({"objectid"}), has_state=False, read_only_attributes=frozenset({"filesize"}),
    system_attributes=False,
)  # fmt: skip
# The primary name attribute of each table a lookup may point to: its FormattedValue (annotations.py).
PRIMARY_NAMES = {"account": "name", "contact": "fullname", "systemuser": "fullname", "team": "name",
                 "businessunit": "name"}  # fmt: skip


@cache
def record_sets() -> dict[str, EntitySet]:
    """The entity sets of the synced tables (contacts and the activities), by entity set name."""
    return _from_catalogue()


@cache
def entity_sets() -> dict[str, EntitySet]:
    """Every entity set the sandbox serves, by entity set name."""
    return {**record_sets(), ACCOUNTS.name: ACCOUNTS, **security_sets(), **filter_sets()}


def set_of_logical_name(logical_name: str) -> EntitySet | None:
    return next((spec for spec in entity_sets().values() if spec.logical_name == logical_name), None)


def bind_targets() -> dict[str, str]:
    """Entity set name -> key attribute, for resolving `/<set>(<guid>)` in @odata.bind values."""
    return {name: spec.key for name, spec in entity_sets().items()}
