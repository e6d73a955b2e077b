"""The field catalogue: the 98 documented field pairs of the 8 synced entities, loaded from shared/data."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from shared.events import Direction, Policy

CATALOGUE_FILE = Path(__file__).with_name("data") / "catalogue.json"


class FieldPair(BaseModel):
    model_config = ConfigDict(frozen=True)

    key: str
    crm_field: str
    crm_attributes: tuple[str, ...]
    exchange_field: str
    exchange_properties: tuple[str, ...]
    default_direction: Direction
    changeable: bool
    allowed_directions: tuple[Direction, ...]
    note: str | None = None
    # False: that side can never be written (EWS cannot set the organizer, a name cannot bind a lookup, ...);
    # `writable_note` says why. The policy then decides that direction `unmapped` and sends nothing there.
    crm_writable: bool = True
    exchange_writable: bool = True
    writable_note: str | None = None
    # The related table that holds the pair's CRM values, for a pair that has no attribute on the row
    # (appointment attachments: activitymimeattachments).
    crm_related: str | None = None
    # The organisation setting that computes the direction: on, `both`; off, `none` (appointment attachments).
    governed_by: str | None = None

    def writable(self, side: str) -> bool:
        """Whether fieldsync can write this pair on `side` ("crm" or "exchange") at all."""
        if side == "crm":
            return bool(self.crm_attributes or self.crm_related) and self.crm_writable
        return bool(self.exchange_properties) and self.exchange_writable


class EntitySpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    display_name: str
    entity_set: str
    key_attribute: str
    exchange_item_class: str
    exchange_folder: str
    fields: tuple[FieldPair, ...]

    def field(self, key: str) -> FieldPair | None:
        return next((f for f in self.fields if f.key == key), None)

    def field_for_attribute(self, attribute: str) -> FieldPair | None:
        """The pair a CRM attribute belongs to (an attribute of a composite maps to the whole pair)."""
        return next((f for f in self.fields if attribute in f.crm_attributes or attribute == f.key), None)


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True)

    entities: dict[str, EntitySpec]

    def entity(self, name: str) -> EntitySpec | None:
        return self.entities.get(name)

    def default_directions(self) -> dict[str, dict[str, Direction]]:
        return {
            name: {f.key: f.default_direction for f in spec.fields} for name, spec in self.entities.items()
        }


@cache
def load_catalogue() -> Catalogue:
    raw = json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))
    return Catalogue(
        entities={name: EntitySpec(name=name, **spec) for name, spec in raw["entities"].items()}
    )


def effective_direction(pair: FieldPair, policy: Policy, entity: str) -> Direction:
    """The direction a pair syncs in: fixed pairs keep their documented one whatever the stored policy says, a
    pair the policy does not name has its default, and a pair an organisation setting governs is `both` while the
    setting is on, `none` while it is off. The policy worker decides with it; the admin API shows it."""
    if pair.governed_by is not None:
        return "both" if getattr(policy.settings, pair.governed_by) else "none"
    if not pair.changeable:
        return pair.default_direction
    return policy.direction(entity, pair.key) or pair.default_direction
