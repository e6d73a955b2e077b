"""crm_capture configuration: the broker, Redis, the Web API, which entities to follow and how often."""

from __future__ import annotations

from pydantic import Field

from shared.settings import BusSettings, CrmSettings


class CrmCaptureSettings(BusSettings, CrmSettings):
    # Entities followed through change tracking (catalogue names); the others come later.
    crm_capture_entities: list[str] = [
        "contact", "appointment", "task", "phonecall", "letter", "fax", "recurringappointmentmaster",
        "serviceappointment",
    ]
    crm_capture_poll_interval_s: float = 1.0
    # Appointments' files: activitymimeattachments followed beside the appointments (attachment_index.py), each new
    # file's bytes read once. Off: no file is captured in CRM, whatever sync_appointment_attachments says.
    crm_capture_attachments: bool = True
    crm_capture_backoff_max_s: float = 30.0
    # The security tables (roles, privileges, teams, shares, field security) are read this often, each round
    # published on crm.security and followed by refreshes of the records it may decide differently.
    crm_capture_security_enabled: bool = True
    crm_capture_security_interval_s: float = Field(default=10.0, gt=0)
