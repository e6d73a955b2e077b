"""crm_capture configuration: the broker, Redis, the Web API, which entities to follow and how often."""

from __future__ import annotations

from shared.settings import BusSettings, CrmSettings


class CrmCaptureSettings(BusSettings, CrmSettings):
    # Entities followed through change tracking (catalogue names); the others come later.
    crm_capture_entities: list[str] = ["contact", "appointment", "task"]
    crm_capture_poll_interval_s: float = 1.0
    crm_capture_backoff_max_s: float = 30.0
