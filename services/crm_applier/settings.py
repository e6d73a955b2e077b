"""crm_applier configuration: the broker, Redis, the Web API, its consumer group and retry limits."""

from __future__ import annotations

from shared.settings import BusSettings, CrmSettings


class CrmApplierSettings(BusSettings, CrmSettings):
    crm_applier_group_id: str = "fieldsync-crm-applier"
    # Transient Web API failures (429/503/connection): attempts per request, backoff base and cap;
    # Retry-After is honoured up to the cap. After the last attempt the delivery loop rewinds and backs
    # off (crm_applier_backoff_max_s) until CRM answers again: an outage dead-letters nothing.
    crm_applier_retry_attempts: int = 5
    crm_applier_retry_base_s: float = 0.2
    crm_applier_retry_max_s: float = 10.0
    # 412 answers in a row (the record keeps changing under us) before the delta is dead-lettered.
    crm_applier_conflict_retries: int = 5
    # Backoff after an infrastructure failure (Redis, broker, CRM down) before the same delta is tried again.
    crm_applier_backoff_max_s: float = 30.0
    # Tansu answers a JoinGroup only after about half the session timeout (measured: 5 s at aiokafka's
    # default 10 s, 1 s at 2 s): a smaller timeout starts the applier sooner and detects a dead one sooner.
    crm_applier_session_timeout_ms: int = 10_000
    crm_applier_heartbeat_interval_ms: int = 3_000
    # Deltas in work at once (different records; one record's deltas always in order);
    # FIELDSYNC_APPLIER_CONCURRENCY sets both appliers.
    applier_concurrency: int = 16
