"""Appointment attachments as one field value: each file's name, type, size and SHA-256, and the plan that
turns one side's files into the wanted ones (pure: no I/O).

The value both captures emit and both appliers write is the list of the item's files, sorted, each
`{"name", "content_type", "size", "sha256"}`; no file is `None` (as an empty text is). Content never travels in
events: a capture puts the bytes in the content store under their SHA-256 (shared.attachment_store) and an
applier takes them from there. Two files are the same file when name, content type and content are equal.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

KEY = "attachments"  # the field pair's key
FIELDS = ("name", "content_type", "size", "sha256")
DEFAULT_TYPE = "application/octet-stream"

Entry = dict[str, Any]


class AttachmentValueError(ValueError):
    """A value that is not a list of file entries."""


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def entry(name: str, content_type: str | None, size: int, sha256: str) -> Entry:
    return {"name": name, "content_type": content_type or DEFAULT_TYPE, "size": int(size), "sha256": sha256}


def identity(file: Mapping[str, Any]) -> tuple[str, str, str]:
    """What makes two files the same file on both sides."""
    return (str(file["name"]), str(file["content_type"]), str(file["sha256"]))


def canonical(files: Iterable[Mapping[str, Any]] | None) -> list[Entry] | None:
    """The field value of a set of files: sorted entries, None for none."""
    entries = [entry(f["name"], f.get("content_type"), f["size"], f["sha256"]) for f in files or ()]
    return sorted(entries, key=lambda e: (*identity(e), e["size"])) or None


def validated(value: Any) -> list[Entry] | None:
    """A delta's attachments value, checked: None or a list of complete entries (AttachmentValueError)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise AttachmentValueError(f"attachments must be a list of files, got {type(value).__name__}")
    for file in value:
        if not isinstance(file, dict) or set(file) != set(FIELDS):
            raise AttachmentValueError(f"an attachment entry has exactly {list(FIELDS)}, got {file!r}")
        if not isinstance(file["size"], int) or isinstance(file["size"], bool) or file["size"] < 0:
            raise AttachmentValueError(f"attachment {file['name']!r} has no valid size: {file['size']!r}")
        if not isinstance(file["sha256"], str) or len(file["sha256"]) != 64:
            raise AttachmentValueError(f"attachment {file['name']!r} has no valid sha256")
    return canonical(value)


@dataclass(frozen=True)
class AttachmentPlan:
    """What to do to one side's files to hold the wanted ones: files to add (entries), files to remove (ids)."""

    add: tuple[Entry, ...]
    remove: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.add and not self.remove


def plan(
    current: Sequence[tuple[str, Mapping[str, Any]]], wanted: Sequence[Mapping[str, Any]] | None
) -> AttachmentPlan:
    """`current`: (attachment id, entry) of the files the item holds now. A file held as often as wanted stays; an
    extra copy is removed, a missing one added (files are matched by identity, as a multiset)."""
    need = Counter(identity(f) for f in wanted or ())
    remove: list[str] = []
    for attachment_id, file in current:
        key = identity(file)
        if need[key] > 0:
            need[key] -= 1
        else:
            remove.append(attachment_id)
    add: list[Entry] = []
    for file in canonical(wanted) or ():
        if need[identity(file)] > 0:
            need[identity(file)] -= 1
            add.append(file)
    return AttachmentPlan(tuple(add), tuple(remove))


def steps(current: Sequence[tuple[str, Mapping[str, Any]]], planned: AttachmentPlan) -> list[list[Entry] | None]:
    """The values an item's files pass through while `planned` is carried out one file at a time (removals first):
    the applier announces them, so a capture reading the item half-way recognises fieldsync's own write."""
    held = dict(current)
    values: list[list[Entry] | None] = []
    for attachment_id in planned.remove:
        held.pop(attachment_id, None)
        values.append(canonical(held.values()))
    added: list[Mapping[str, Any]] = []
    for file in planned.add:
        added.append(file)
        values.append(canonical([*held.values(), *added]))
    return values


def oversized(files: Iterable[Mapping[str, Any]] | None, cap_bytes: int) -> list[Entry]:
    """The files larger than the cap: they are never copied, and the applier dead-letters them with the reason."""
    return [entry(f["name"], f.get("content_type"), f["size"], f["sha256"])
            for f in files or () if f["size"] > cap_bytes]  # fmt: skip


def describe_size(size: int) -> str:
    """A size for people, exact in bytes beside the rounded unit (a file one byte over the cap must show it)."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB ({size} bytes)"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB ({size} bytes)"
    return f"{size} bytes"
