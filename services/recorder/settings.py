"""recorder configuration: the broker, Redis, its consumer group, and what the explain and dead-letter logs keep."""

from __future__ import annotations

from shared.settings import BusSettings, DeadLetterLogSettings, ExplainLogSettings


class RecorderSettings(BusSettings, ExplainLogSettings, DeadLetterLogSettings):
    recorder_group_id: str = "fieldsync-recorder"
    # Backoff cap after Redis or the broker failed (the batch is read again; nothing is skipped).
    recorder_backoff_max_s: float = 10.0
