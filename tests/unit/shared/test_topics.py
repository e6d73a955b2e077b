"""The topic registry: every topic is prefixed, unique, and the key builders give per-item keys."""

from __future__ import annotations

from shared import topics
from shared.links import counterpart_id, merge_key


def test_every_topic_is_prefixed_and_unique() -> None:
    names = [t.full_name for t in topics.ALL]
    assert all(n.startswith("fieldsync.") for n in names)
    assert len(names) == len(set(names)) == 9


def test_item_keys_put_one_item_in_one_partition() -> None:
    assert topics.crm_item_key("contact", "c1") == "contact:c1"


def test_both_sides_of_a_pair_share_one_key() -> None:
    """An Exchange change is keyed by its linked record, or by the record the crm_applier would create for it."""
    assert merge_key("task", "t1", "alice@sandbox.local", "AAMk=") == topics.crm_item_key("task", "t1")
    unlinked = merge_key("task", None, "Alice@sandbox.local", "AAMk=")
    assert unlinked == topics.crm_item_key("task", counterpart_id("alice@sandbox.local", "AAMk="))
    assert topics.exchange_delta_key("alice@sandbox.local", "task", "t1") == "alice@sandbox.local:task:t1"
