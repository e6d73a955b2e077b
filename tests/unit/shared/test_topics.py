"""The topic registry: every topic is prefixed, unique, and the key builders give per-item keys."""

from __future__ import annotations

from shared import topics


def test_every_topic_is_prefixed_and_unique() -> None:
    names = [t.full_name for t in topics.ALL]
    assert all(n.startswith("fieldsync.") for n in names)
    assert len(names) == len(set(names)) == 9


def test_item_keys_put_one_item_in_one_partition() -> None:
    assert topics.crm_item_key("contact", "c1") == "contact:c1"
    assert topics.exchange_item_key("alice@sandbox.local", "AAMk=") == "alice@sandbox.local:AAMk="
    assert topics.exchange_delta_key("alice@sandbox.local", "task", "t1") == "alice@sandbox.local:task:t1"
