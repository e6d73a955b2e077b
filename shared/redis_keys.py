"""Every Redis key fieldsync uses, built in one place; all keys carry the `fs:` prefix."""

from __future__ import annotations

PREFIX = "fs:"

# Policy: the current policy (JSON with version) and its history (a list of JSON entries, oldest first).
POLICY = PREFIX + "policy"
POLICY_HISTORY = PREFIX + "policy:history"
# The change window (shared.change_window): the policy's last decided changes with their facts, a list newest first.
CHANGE_WINDOW = PREFIX + "window:changes"


def crm_cursor(entity: str) -> str:
    """The Web API delta link crm_capture resumes from."""
    return f"{PREFIX}cursor:crm:{entity}"


def exchange_cursor(mailbox: str, folder: str) -> str:
    """The SyncFolderItems sync state exchange_capture resumes from."""
    return f"{PREFIX}cursor:exchange:{mailbox}:{folder}"


def crm_snapshot(entity: str, crm_id: str) -> str:
    """Last seen field values of a CRM item (a hash), to emit only what changed."""
    return f"{PREFIX}seen:crm:{entity}:{crm_id}"


def exchange_snapshot(mailbox: str, exchange_id: str) -> str:
    """Last seen field values of an Exchange item (a hash)."""
    return f"{PREFIX}seen:exchange:{mailbox}:{exchange_id}"


def crm_snapshots(entity: str) -> str:
    """SCAN pattern of every crm_snapshot of one entity (the id is what follows the last `:`)."""
    return crm_snapshot(_glob_escape(entity), "*")


def exchange_snapshots(mailbox: str) -> str:
    """SCAN pattern of every exchange_snapshot of one mailbox, all folders (the id follows the last `:`)."""
    return exchange_snapshot(_glob_escape(mailbox), "*")


def _glob_escape(part: str) -> str:
    """A key part matched literally by a SCAN pattern (an address may hold `*`, `?` or `[`)."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in part)


def link_by_crm(entity: str, crm_id: str) -> str:
    """Hash mailbox -> Exchange id for one CRM record."""
    return f"{PREFIX}link:crm:{entity}:{crm_id}"


def link_by_crm_pattern(entity: str | None = None) -> str:
    """SCAN MATCH pattern of the link_by_crm keys, of one entity or of all (entities and ids hold no glob
    characters); the key's last two `:` parts are the entity and the CRM id."""
    return link_by_crm(entity or "*", "*")


def link_by_exchange(mailbox: str, exchange_id: str) -> str:
    """The CRM record ("entity:crm_id") an Exchange item is linked to."""
    return f"{PREFIX}link:exchange:{mailbox}:{exchange_id}"


def applied_version(target: str, key: str) -> str:
    """The last delta applied to one target item, for idempotent replays."""
    return f"{PREFIX}applied:{target}:{key}"


def exchange_creating(mailbox: str, marker: str) -> str:
    """Set while the exchange_applier creates an item carrying this creation marker and has not recorded it: the
    capture, finding the item first, knows it for fieldsync's own create, not an item made in Outlook."""
    return f"{PREFIX}creating:exchange:{mailbox}:{marker}"


def echo_fingerprint(system: str, key: str) -> str:
    """The version or value fingerprint of what fieldsync last wrote to an item."""
    return f"{PREFIX}echo:{system}:{key}"


def untracked(mailbox: str, exchange_id: str) -> str:
    """Set while a linked mailbox item is untracked (its tracking category removed): nothing syncs either way."""
    return f"{PREFIX}untracked:{mailbox}:{exchange_id}"


def agreed(entity: str, crm_id: str, mailbox: str) -> str:
    """Per field of one linked pair, the last agreed value and what each side holds (the policy's merge point)."""
    return f"{PREFIX}agreed:{entity}:{crm_id}:{mailbox.lower()}"


# Conflict log (shared.conflict_log): each record by conflict id, each record's index keys (newline-separated),
# and sorted-set indexes of conflict ids scored by decision time (microseconds since the epoch).
CONFLICT_RECORDS = PREFIX + "conflicts:records"
CONFLICT_INDEX_KEYS = PREFIX + "conflicts:index_keys"
CONFLICTS_BY_TIME = PREFIX + "conflicts:by_time"


def conflicts_by_entity(entity: str) -> str:
    """The conflicts of one entity, newest last."""
    return f"{PREFIX}conflicts:by_entity:{entity}"


def conflicts_by_mailbox(mailbox: str) -> str:
    """The conflicts recorded for one mailbox (addresses compare case-insensitively, as in `agreed`)."""
    return f"{PREFIX}conflicts:by_mailbox:{mailbox.lower()}"


def conflicts_by_item(crm_id: str) -> str:
    """The conflicts of one CRM record (its id names one record whichever entity it is), across its mailboxes."""
    return f"{PREFIX}conflicts:by_item:{crm_id}"


# crm_capture's security capture (services/crm_capture/security_*.py), its own state apart from the policy's copy
# of the tables: the last round number it took, and per security table the rows it last published (a hash: primary
# key -> JSON row), the delta link of a table read through change tracking, the fingerprint of a table read whole.
CAPTURE_SECURITY_ROUND = PREFIX + "capture:security:round"


def capture_security_rows(table: str) -> str:
    return f"{PREFIX}capture:security:rows:{table}"


def security_cursor(table: str) -> str:
    return f"{PREFIX}cursor:crm-security:{table}"


def capture_security_fingerprint(table: str) -> str:
    return f"{PREFIX}capture:security:fingerprint:{table}"


# The users (systemuserid, lower case) whose mailbox fieldsync has synced, so whose default sync filter templates
# were copied once (a set): a user who later deletes every filter of theirs is not given the templates again.
CAPTURE_TEMPLATED_USERS = PREFIX + "capture:filters:templated"


# Security tables (the policy's copy of what crm_capture published on crm.security): per table a hash of primary
# key -> the row as JSON; the rows of the round being received, staged until its last event; the last complete round.
SECURITY_ROUND = PREFIX + "security:round"
SECURITY_PENDING = PREFIX + "security:pending"


def security_rows(table: str) -> str:
    """One security table's rows (entity set name, as on the Web API)."""
    return f"{PREFIX}security:rows:{table}"


# Mailbox health (shared.mailbox_health): every mailbox recorded, and per mailbox a hash of `{folder}:{what}` fields.
MAILBOX_HEALTH_INDEX = PREFIX + "mailbox_health"


def mailbox_health(mailbox: str) -> str:
    """Per folder of one mailbox: last successful sync, items synced, the current error and since when."""
    return f"{PREFIX}mailbox_health:{mailbox.lower()}"
# Explain log (shared.explain_log): per item (a CRM record, or an Exchange item not linked yet) and lane (a mailbox,
# or "" for what concerns CRM alone), the decisions and applier results kept, and the item's lanes.
def explain_item(entity: str, item: str) -> str:
    """The set of lanes one item has entries in."""
    return f"{PREFIX}explain:{entity}:{item}:lanes"


def explain_events(entity: str, item: str, lane: str) -> str:
    """Hash event id -> event JSON (decisions and DeltaApplied) of one item's lane."""
    return f"{PREFIX}explain:{entity}:{item}:{lane.lower()}:events"


def explain_decisions(entity: str, item: str, lane: str) -> str:
    """Sorted set of the lane's decision ids, scored by decision time (microseconds since the epoch)."""
    return f"{PREFIX}explain:{entity}:{item}:{lane.lower()}:decisions"


def explain_applied(entity: str, item: str, lane: str) -> str:
    """Sorted set of the lane's DeltaApplied ids, scored by the time their delta was decided."""
    return f"{PREFIX}explain:{entity}:{item}:{lane.lower()}:applied"


# Dead letters (shared.dead_letter_log): each record by id, a time index, and the audit trail of replays and
# discards (a list of JSON entries, newest last).
DEADLETTER_RECORDS = PREFIX + "deadletters:records"
DEADLETTERS_BY_TIME = PREFIX + "deadletters:by_time"
DEADLETTER_AUDIT = PREFIX + "deadletters:audit"


def dead_letter_of_event(event_id: str) -> str:
    """The id of the dead letter an event (by its event_id) became; expires with the log's retention."""
    return f"{PREFIX}deadletters:event:{event_id}"


def attachment_content(sha256: str) -> str:
    """An attachment's bytes, by their SHA-256 (content-addressed, with a TTL): what a capture read for an
    applier of the other side to write (shared.attachment_store)."""
    return f"{PREFIX}attachment:content:{sha256}"


def attachment_digest(system: str, attachment_id: str, version: str) -> str:
    """The SHA-256 of one attachment of one side at one version: its content is read once, not on every change."""
    return f"{PREFIX}attachment:digest:{system}:{attachment_id}:{version}"


def crm_attachments_of(parent_id: str) -> str:
    """The attachments crm_capture last read of one CRM activity (a hash: attachment id -> JSON entry)."""
    return f"{PREFIX}attachment:crm:of:{parent_id}"


def crm_attachment_parent(attachment_id: str) -> str:
    """The activity a CRM attachment belongs to, kept for its delete (a $deletedEntity row names only its id)."""
    return f"{PREFIX}attachment:crm:parent:{attachment_id}"
