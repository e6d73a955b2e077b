"""policy configuration: the broker, Redis, and the faust worker's group, timeouts and web server."""

from __future__ import annotations

from pydantic import Field

from shared.settings import BusSettings, ChangeWindowSettings, ConflictLogSettings


class PolicySettings(BusSettings, ConflictLogSettings, ChangeWindowSettings):
    # The consumer group (faust app id) every policy worker shares.
    policy_group_id: str = "fieldsync-policy"
    # faust's web server (worker stats) is off by default; when on, it listens on this port.
    policy_web_enabled: bool = False
    policy_web_port: int = 6066
    # Tansu answers a JoinGroup only after a wait that grows with these (faust's defaults, 60 s,
    # make a worker start take ~30 s): small values keep start and restart within a few seconds.
    policy_session_timeout_s: float = 6.0
    policy_rebalance_timeout_s: float = 3.0
    policy_heartbeat_interval_s: float = 1.0
    # How often offsets of processed changes are committed (at least once: a crash replays the rest).
    policy_commit_interval_s: float = 0.5
    # Every worker re-reads the policy from Redis this often, besides on every PolicyChanged (its doorbell):
    # the safety net for a change whose publish failed (the admin API answered `published: false`).
    policy_refresh_interval_s: float = 2.0
    # How long a change waits for the security round it needs (the first one, or a refresh's) before its step
    # fails as transient and is retried with backoff: nothing is decided without the security tables.
    policy_security_wait_s: float = 10.0
    # How many changes a worker decides at once (different pairs; one pair's changes always in order).
    policy_concurrency: int = Field(default=16, ge=1)
