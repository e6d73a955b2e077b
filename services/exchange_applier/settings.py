"""exchange_applier configuration: the broker, Redis, EWS, its consumer group and retry limits."""

from __future__ import annotations

from shared.settings import BusSettings, ExchangeSettings


class ExchangeApplierSettings(BusSettings, ExchangeSettings):
    exchange_applier_group_id: str = "fieldsync-exchange-applier"
    # Transient EWS failures (ErrorServerBusy, 429/503, connection errors): attempts per call, backoff
    # base and cap; BackOffMilliseconds / Retry-After is honoured up to the cap. Then the delivery loop
    # rewinds and backs off (exchange_applier_backoff_max_s) until EWS answers: an outage dead-letters nothing.
    exchange_applier_retry_attempts: int = 5
    exchange_applier_retry_base_s: float = 0.2
    exchange_applier_retry_max_s: float = 10.0
    # Stale-ChangeKey answers in a row (the item keeps changing under us) before the delta is dead-lettered.
    exchange_applier_conflict_retries: int = 5
    # Backoff after an infrastructure failure (Redis, broker, EWS down) before the same delta is tried again.
    exchange_applier_backoff_max_s: float = 30.0
    # Deltas in work at once (different items; one item's deltas always in order). EWS requests in
    # flight stay bounded by ews_max_workers; FIELDSYNC_APPLIER_CONCURRENCY sets both appliers.
    applier_concurrency: int = 16
