"""Which fields of a linked pair disagree although the policy says they flow (pure: no I/O, no clock).

Both sides arrive as canonical values, read the way the captures read them (`crm_fields.canonical_fields`,
`exchange_fields.to_canonical`). Exchange cannot hold every CRM value exactly (task dates are date-only, an
empty string is no value, an unset priority reads Normal, an appointment's duration is computed from its
times, a task's percentage follows its status, ...), so a CRM value is also seen the way Exchange would hold
it once fieldsync wrote it there: `exchange_view`, the one place where representation is normalised. A field
agrees when the two values are equal, or when the CRM value seen through Exchange equals the Exchange value.
The Exchange value itself is never normalised, so an Exchange edit is never hidden by the projection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.admin_api.verify_schemas import Difference, Missing, OneWayDifference, Pair, VerifyReport
from shared.catalogue import EntitySpec, effective_direction
from shared.events import Direction, Policy
from shared.exchange import fields as exchange_fields

TASK_COMPLETED = exchange_fields.TASK_STATUS["Completed"][1]
TASK_NOT_STARTED = exchange_fields.TASK_STATUS["NotStarted"][1]
NOTES: dict[tuple[Direction, bool], str] = {
    ("to_exchange", True): "flows CRM to Exchange only: edited in Exchange, kept until CRM changes it",
    ("to_crm", True): "flows Exchange to CRM only: edited in CRM, kept until Exchange changes it",
    ("to_crm", False): "Exchange cannot write this field, so it flows Exchange to CRM only: CRM keeps its own",
}


@dataclass(frozen=True)
class Flow:
    """How one compared field flows; `exchange_writable` False: EWS cannot set it (organizer, completion date)."""

    direction: Direction
    exchange_writable: bool = True


@dataclass(frozen=True)
class Reading:
    """Both sides of one linked pair as read; None: that side's item no longer exists."""

    pair: Pair
    crm: Mapping[str, Any] | None
    exchange: Mapping[str, Any] | None
    untracked: bool = False  # the mailbox item is untracked: nothing flows either way, nothing is compared


@dataclass(frozen=True)
class Findings:
    differences: tuple[Difference, ...] = ()
    one_way: tuple[OneWayDifference, ...] = ()
    missing: tuple[Missing, ...] = ()


def flows(spec: EntitySpec, policy: Policy) -> dict[str, Flow]:
    """The fields to compare and how each flows: mapped on both sides and not `none` under the policy. A
    field Exchange cannot write reaches Exchange from CRM in no direction, so `both` becomes `to_crm`."""
    codecs = exchange_fields.CODECS.get(spec.name, {})
    found: dict[str, Flow] = {}
    for pair in spec.fields:
        codec = codecs.get(pair.key)
        if not pair.crm_attributes or codec is None:
            continue
        direction = effective_direction(pair, policy, spec.name)
        writable = codec.write is not None
        if not writable:
            direction = "to_crm" if direction in ("both", "to_crm") else "none"
        if direction != "none":
            found[pair.key] = Flow(direction, writable)
    return found


def exchange_view(entity: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Canonical values as Exchange holds them once written and read back: each field as
    `exchange_fields.stored_as` says (the merge point's view of a written value too), then the task rules
    exchangelib applies before a task is saved. A value Exchange cannot take (a read-only field, a wrong
    shape) is kept as it is, so it still compares unequal where it differs."""
    view = {key: exchange_fields.stored_as(entity, key, value) for key, value in values.items()}
    return _task_rules(view) if entity == "task" else view


def _task_rules(view: dict[str, Any]) -> dict[str, Any]:
    """exchangelib's Task.clean: the due date is not before the start date; a Completed task is 100 %
    done and a NotStarted one 0 % (the server, sandbox included, also keeps a Completed task at 100 %)."""
    status = view.get("status")
    code = status.get("statuscode") if isinstance(status, dict) else None
    if view.get("percentcomplete") is not None and code in (TASK_COMPLETED, TASK_NOT_STARTED):
        view["percentcomplete"] = 100 if code == TASK_COMPLETED else 0
    start, due = view.get("scheduledstart"), view.get("scheduledend")
    if isinstance(start, str) and isinstance(due, str) and due < start:  # one ISO format: order is time order
        view["scheduledend"] = start
    return view


def compare(reading: Reading, fields: Mapping[str, Flow]) -> Findings:
    """The differences, one-way differences and missing items of one pair."""
    pair = reading.pair
    if reading.crm is None or reading.exchange is None:
        sides = [side for side, values in (("crm", reading.crm), ("exchange", reading.exchange)) if values is None]
        return Findings(missing=tuple(Missing(**pair.model_dump(), missing_on=side) for side in sides))
    if reading.untracked:
        return Findings()
    crm, exchange = reading.crm, reading.exchange
    seen = exchange_view(pair.entity, {key: crm.get(key) for key in fields})
    differences: list[Difference] = []
    one_way: list[OneWayDifference] = []
    for key, flow in fields.items():
        crm_value, exchange_value = crm.get(key), exchange.get(key)
        if crm_value == exchange_value or seen.get(key) == exchange_value:
            continue
        values = {**pair.model_dump(), "field": key, "crm_value": crm_value, "exchange_value": exchange_value}
        if flow.direction == "both":
            differences.append(Difference(**values))
        else:
            note = NOTES[(flow.direction, flow.exchange_writable)]
            one_way.append(OneWayDifference(**values, direction=flow.direction, note=note))
    return Findings(tuple(differences), tuple(one_way))


def build_report(findings: Iterable[Findings], pairs_checked: int, untracked: int, policy_version: int) -> VerifyReport:
    """One report from every pair's findings, in a stable order; consistent unless something differs or
    is missing (one-way differences are informational)."""
    differences: list[Difference] = []
    one_way: list[OneWayDifference] = []
    missing: list[Missing] = []
    for found in findings:
        differences.extend(found.differences)
        one_way.extend(found.one_way)
        missing.extend(found.missing)

    def order(item: Pair) -> tuple[str, ...]:
        return (item.entity, item.crm_id, item.mailbox, str(getattr(item, "field", getattr(item, "missing_on", ""))))

    return VerifyReport(
        pairs_checked=pairs_checked,
        consistent=not differences and not missing,
        policy_version=policy_version,
        untracked=untracked,
        differences=sorted(differences, key=order),
        missing=sorted(missing, key=order),
        one_way_differences=sorted(one_way, key=order),
    )
