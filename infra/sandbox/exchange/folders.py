"""The distinguished folders every sandbox mailbox has, their stable ids and their EWS elements."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from lxml import etree

from infra.sandbox.exchange.soap import EwsError, t

FOLDER_CHANGE_KEY = "AQAAAA=="


@dataclass(frozen=True)
class FolderSpec:
    name: str
    element: str
    folder_class: str | None
    display_name: str
    parent: str | None
    item_type: str | None  # the item type CreateItem stores here; None: no items in this folder


FOLDERS = {
    spec.name: spec
    for spec in (
        FolderSpec("root", "Folder", None, "", None, None),
        FolderSpec("msgfolderroot", "Folder", "IPF.Note", "Top of Information Store", "root", None),
        FolderSpec("inbox", "Folder", "IPF.Note", "Inbox", "msgfolderroot", "Message"),
        FolderSpec("calendar", "CalendarFolder", "IPF.Appointment", "Calendar", "msgfolderroot", "CalendarItem"),
        FolderSpec("contacts", "ContactsFolder", "IPF.Contact", "Contacts", "msgfolderroot", "Contact"),
        FolderSpec("tasks", "TasksFolder", "IPF.Task", "Tasks", "msgfolderroot", "Task"),
    )
}


def folder_id(mailbox: str, name: str) -> str:
    return base64.b64encode(f"FSF1|{mailbox}|{name}".encode()).decode()


def parse_folder_id(value: str) -> tuple[str, str]:
    """(mailbox, folder name) of a folder id issued by folder_id()."""
    try:
        prefix, mailbox, name = base64.b64decode(value, validate=True).decode().split("|")
    except (ValueError, UnicodeDecodeError) as exc:
        raise EwsError("ErrorInvalidIdMalformed", "Id is malformed.") from exc
    if prefix != "FSF1" or name not in FOLDERS:
        raise EwsError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
    return mailbox, name


def resolve_folder(elem: etree._Element, mailbox: str) -> str:
    """The folder name a FolderId or DistinguishedFolderId element names in the impersonated mailbox."""
    kind = etree.QName(elem).localname
    if kind == "DistinguishedFolderId":
        name: str = elem.get("Id", "")
        owner = elem.findtext(f"{t('Mailbox')}/{t('EmailAddress')}")
        if owner and owner.strip().lower() != mailbox:
            raise EwsError("ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        if name not in FOLDERS:
            raise EwsError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
        return name
    if kind == "FolderId":
        owner, name = parse_folder_id(elem.get("Id", ""))
        if owner != mailbox:
            raise EwsError("ErrorFolderNotFound", "The specified folder could not be found in the store.")
        return name
    raise EwsError("ErrorInvalidOperation", f"Unsupported folder reference {kind}.")


def render_folder(mailbox: str, name: str, total: int) -> etree._Element:
    spec = FOLDERS[name]
    folder = etree.Element(t(spec.element))
    etree.SubElement(folder, t("FolderId"), Id=folder_id(mailbox, name), ChangeKey=FOLDER_CHANGE_KEY)
    if spec.parent:
        etree.SubElement(folder, t("ParentFolderId"), Id=folder_id(mailbox, spec.parent), ChangeKey=FOLDER_CHANGE_KEY)
    if spec.folder_class:
        etree.SubElement(folder, t("FolderClass")).text = spec.folder_class
    etree.SubElement(folder, t("DisplayName")).text = spec.display_name
    etree.SubElement(folder, t("TotalCount")).text = str(total)
    children = sum(1 for other in FOLDERS.values() if other.parent == name)
    etree.SubElement(folder, t("ChildFolderCount")).text = str(children)
    if spec.element == "Folder":
        etree.SubElement(folder, t("UnreadCount")).text = "0"
    return folder
