"""Properties of decide + plan over random policies, entities, changes and facts (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.policy.decide import decide
from services.policy.membership import in_scope
from services.policy.plan import plan
from services.policy.verdict import TRACKING_CATEGORY, Facts
from shared.events import DIRECTIONS, ItemChanged, ItemDelta, Policy, Source
from tests.policy_builders import ALICE, BOB, CATALOGUE, NOW

ENTITIES = sorted(CATALOGUE.entities)
MAILBOXES = [ALICE, BOB, "carol@sandbox.local"]
# The oracle is written out here, not taken from verdict.FLOWS: the test must not share the code it checks.
ALLOWED_TARGETS = {"both": {"crm", "exchange"}, "to_exchange": {"exchange"}, "to_crm": {"crm"}, "none": set()}


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    directions = {
        entity: {p.key: draw(st.sampled_from(DIRECTIONS)) for p in spec.fields}
        for entity, spec in CATALOGUE.entities.items()
    }
    return Policy(version=draw(st.integers(1, 50)), updated_at=NOW, updated_by="h", directions=directions)


@st.composite
def changes(draw: st.DrawFn) -> ItemChanged:
    entity = draw(st.sampled_from(ENTITIES))
    keys = [p.key for p in CATALOGUE.entities[entity].fields] + ["bogus"]
    changed = {k: "v" for k in draw(st.lists(st.sampled_from(keys), unique=True))}
    system = draw(st.sampled_from(["crm", "exchange"]))
    context: dict[str, Any]
    if system == "crm":
        context = {
            "owner_mailbox": draw(st.sampled_from([*MAILBOXES, None])),
            "statecode": draw(st.sampled_from([0, 1])),
        }
        if draw(st.booleans()):
            context["previous_owner_mailbox"] = draw(st.sampled_from(MAILBOXES))
        ids: dict[str, Any] = {"crm_id": "r1"}
    else:
        context = {"categories": draw(st.sampled_from([[], [TRACKING_CATEGORY], ["Red"]]))}
        ids = {"crm_id": draw(st.sampled_from(["r1", None])), "mailbox": ALICE, "exchange_id": "x1"}
    return ItemChanged(
        event_id="e", occurred_at=NOW, captured_at=NOW, source=Source(system=system), entity=entity,
        op=draw(st.sampled_from(["create", "update", "delete"])), changed=changed, context=context,
        origin=draw(st.sampled_from(["user", "user", "fieldsync"])), **ids,
    )  # fmt: skip


facts = st.builds(Facts, links=st.dictionaries(st.sampled_from(MAILBOXES), st.just("x"), max_size=2))


def deltas(change: ItemChanged, policy: Policy, known: Facts) -> list[ItemDelta]:
    decision = decide(change, CATALOGUE.entity(change.entity), policy, known, NOW)
    return [o.event for o in plan(change, decision, policy.version, NOW) if isinstance(o.event, ItemDelta)]


@settings(max_examples=200, deadline=None)
@given(change=changes(), policy=policies(), known=facts)
def test_a_field_never_reaches_a_target_its_direction_excludes(
    change: ItemChanged, policy: Policy, known: Facts
) -> None:
    spec = CATALOGUE.entities[change.entity]
    for delta in deltas(change, policy, known):
        for key in delta.changed:
            pair = spec.field(key)
            assert pair is not None
            stored = policy.directions[spec.name].get(key, pair.default_direction)
            direction = pair.default_direction if not pair.changeable else stored
            assert delta.target in ALLOWED_TARGETS[direction]


@settings(max_examples=200, deadline=None)
@given(change=changes(), policy=policies(), known=facts)
def test_fixed_fields_ignore_the_stored_policy(change: ItemChanged, policy: Policy, known: Facts) -> None:
    spec = CATALOGUE.entities[change.entity]
    defaults = Policy(version=1, updated_at=NOW, updated_by="h", directions=CATALOGUE.default_directions())
    fixed = {p.key for p in spec.fields if not p.changeable}

    def fixed_view(p: Policy) -> list[tuple[str, str | None, bool, str | None]]:
        decision = decide(change, spec, p, known, NOW)
        return sorted(
            (o.field, o.mailbox, o.synced, o.reason) for o in decision.outcomes if o.field in fixed
        )  # fmt: skip

    assert fixed_view(policy) == fixed_view(defaults)


@settings(max_examples=200, deadline=None)
@given(change=changes(), policy=policies(), known=facts)
def test_out_of_scope_never_reaches_a_mailbox(change: ItemChanged, policy: Policy, known: Facts) -> None:
    for delta in deltas(change, policy, known):
        if delta.target != "exchange" or delta.op == "delete":
            continue
        assert change.source.system == "crm"
        assert delta.mailbox == change.context["owner_mailbox"]
        assert in_scope(change.entity, change.context)


@settings(max_examples=200, deadline=None)
@given(change=changes(), policy=policies(), known=facts)
def test_echoes_and_untracked_exchange_items_write_nothing(change: ItemChanged, policy: Policy, known: Facts) -> None:
    written = deltas(change, policy, known)
    if change.origin == "fieldsync":
        assert written == []
    untracked_create = change.source.system == "exchange" and change.crm_id is None and change.op != "delete"
    if untracked_create and TRACKING_CATEGORY not in change.context["categories"]:
        assert written == []
