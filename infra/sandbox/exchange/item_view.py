"""Rendering stored items as EWS item elements for a requested ItemShape (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from infra.sandbox.exchange.item_codec import (
    ADDRESS_PARTS,
    INDEXED_ENTRIES,
    ITEM_CLASSES,
    PHONETIC_NAMES,
    extended_key,
)
from infra.sandbox.exchange.soap import T, t
from infra.sandbox.exchange.store import ItemRecord

# Properties the server computes for every item; FieldURI suffix -> value source.
SERVER_PROPERTIES = ("ParentFolderId", "ItemClass", "DateTimeCreated", "LastModifiedTime", "IsComplete")


@dataclass
class Shape:
    """What a client asked for: a base shape plus explicit property paths."""

    everything: bool = False
    names: set[str] = field(default_factory=set)
    containers: set[str] = field(default_factory=set)
    extended: set[str] = field(default_factory=set)


def parse_shape(shape_elem: etree._Element | None) -> Shape:
    shape = Shape()
    if shape_elem is None:
        return shape
    base = (shape_elem.findtext(t("BaseShape")) or "IdOnly").strip()
    shape.everything = base in ("Default", "AllProperties")
    extra = shape_elem.find(t("AdditionalProperties"))
    for path in extra if extra is not None else ():
        if not isinstance(path.tag, str):
            continue
        kind = etree.QName(path).localname
        uri = path.get("FieldURI", "")
        if kind == "ExtendedFieldURI":
            shape.extended.add(extended_key(path))
        elif uri.startswith("contacts:PhysicalAddress"):
            shape.containers.add("PhysicalAddresses")
        elif uri in INDEXED_ENTRIES:
            shape.containers.add(INDEXED_ENTRIES[uri])
        elif ":" in uri:
            shape.names.add(uri.split(":", 1)[1])
    return shape


def _wants(shape: Shape, name: str) -> bool:
    return shape.everything or name in shape.names


def render_item(record: ItemRecord, folder_id: str, shape: Shape) -> etree._Element:
    item = etree.Element(t(record.item_type))
    etree.SubElement(item, t("ItemId"), Id=record.id, ChangeKey=record.change_key)
    if _wants(shape, "ParentFolderId"):
        etree.SubElement(item, t("ParentFolderId"), Id=folder_id, ChangeKey="AQAAAA==")
    if _wants(shape, "ItemClass"):
        etree.SubElement(item, t("ItemClass")).text = ITEM_CLASSES.get(record.item_type, "IPM.Note")
    if _wants(shape, "DateTimeCreated"):
        etree.SubElement(item, t("DateTimeCreated")).text = record.created
    if _wants(shape, "LastModifiedTime"):
        etree.SubElement(item, t("LastModifiedTime")).text = record.modified
    fields = record.fields
    for name, raw in fields["simple"].items():
        if _wants(shape, name):
            item.append(etree.fromstring(raw))
    if record.item_type == "Task" and _wants(shape, "IsComplete"):
        status = etree.fromstring(fields["simple"]["Status"]).text if "Status" in fields["simple"] else None
        etree.SubElement(item, t("IsComplete")).text = "true" if status == "Completed" else "false"
    for container, entries in fields["indexed"].items():
        if entries and (shape.everything or container in shape.containers):
            element = etree.SubElement(item, t(container))
            element.extend(etree.fromstring(raw) for raw in entries.values())
    if fields["addresses"] and (shape.everything or "PhysicalAddresses" in shape.containers):
        element = etree.SubElement(item, t("PhysicalAddresses"))
        for label, parts in fields["addresses"].items():
            entry = etree.SubElement(element, t("Entry"), Key=label)
            for part in ADDRESS_PARTS:
                if part in parts:
                    etree.SubElement(entry, t(part)).text = parts[part]
    for name, key in PHONETIC_NAMES.items():
        if key in fields["extended"] and _wants(shape, name) and record.item_type == "Contact":
            etree.SubElement(item, t(name)).text = etree.fromstring(fields["extended"][key]).findtext(f"{{{T}}}Value")
    for key, raw in fields["extended"].items():
        if key in shape.extended:
            item.append(etree.fromstring(raw))
    return item
