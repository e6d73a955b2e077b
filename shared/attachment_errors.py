"""Why an applier could not copy a file: over the size cap, or its bytes no longer held (both deterministic)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shared.attachments import describe_size


def too_large(files: Iterable[Mapping[str, Any]], cap_bytes: int) -> str:
    names = ", ".join(f"{f['name']!r} ({describe_size(int(f['size']))})" for f in files)
    return (f"attachment over the size cap of {describe_size(cap_bytes)} (FIELDSYNC_ATTACHMENT_MAX_BYTES), not "
            f"copied: {names}; the appointment's other fields and files were written")  # fmt: skip


def content_missing(file: Mapping[str, Any]) -> str:
    return (f"the bytes of attachment {file['name']!r} (sha256 {file['sha256'][:12]}…) are no longer held "
            "(FIELDSYNC_ATTACHMENT_CONTENT_TTL_DAYS): the capture stores them again when it next reads the file")
