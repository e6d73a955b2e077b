"""exchange_capture configuration: the broker, Redis, EWS, the CRM (to find mailboxes), and how often to poll."""

from __future__ import annotations

from shared.settings import BusSettings, CrmSettings, ExchangeSettings


class ExchangeCaptureSettings(BusSettings, ExchangeSettings, CrmSettings):
    # Mailboxes to watch (comma list); empty: the CRM systemusers' internalemailaddress, refreshed periodically.
    mailboxes: str = ""
    # Entities, not folders: their folders are followed, each once (the tasks folder for the four task entities).
    exchange_capture_entities: list[str] = [
        "contact", "appointment", "task", "phonecall", "letter", "fax", "recurringappointmentmaster",
        "serviceappointment",
    ]
    exchange_capture_poll_interval_s: float = 1.0
    exchange_capture_backoff_max_s: float = 30.0
    exchange_capture_mailbox_refresh_s: float = 300.0
    # Mailboxes polled at the same time (the EWS worker pool, ews_max_workers, bounds requests in flight).
    exchange_capture_concurrency: int = 4
    exchange_capture_page_size: int = 512
    # Appointments' file attachments read with the items (files.py), each new file's bytes read once. Off: no
    # file is captured in Exchange, whatever sync_appointment_attachments says.
    exchange_capture_attachments: bool = True

    def mailbox_list(self) -> list[str]:
        return [m.strip().lower() for m in self.mailboxes.split(",") if m.strip()]
