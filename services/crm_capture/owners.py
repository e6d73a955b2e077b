"""Owner mailboxes: systemuser id -> internalemailaddress, cached and looked up again on a miss."""

from __future__ import annotations

from shared.crm.client import CrmClient


class OwnerMailboxes:
    """A small cache in front of the Web API; a user's address rarely changes, a miss costs one GET."""

    def __init__(self, client: CrmClient, limit: int = 10_000) -> None:
        self.client = client
        self.limit = limit
        self._known: dict[str, str | None] = {}

    async def mailbox(self, systemuser_id: str | None) -> str | None:
        if not systemuser_id:
            return None
        key = systemuser_id.lower()
        found = self._known.get(key)
        if found is None:
            found = await self.client.user_email(key)
            if len(self._known) >= self.limit:
                self._known.clear()  # bounded memory; a cold cache only costs lookups
            if found is not None:
                self._known[key] = found
        return found

    def forget(self, systemuser_id: str) -> None:
        self._known.pop(systemuser_id.lower(), None)
