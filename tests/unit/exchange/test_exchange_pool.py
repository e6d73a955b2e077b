"""exchangelib's session pool keeps its size: its own shrinking deadlocks when every session is in use."""

from __future__ import annotations

import threading

from exchangelib import BASIC, IMPERSONATION, Account, Configuration, Credentials, Version
from exchangelib.version import EXCHANGE_2016

from shared.exchange.client import keep_pool_size


def _protocol(max_connections: int) -> object:
    config = Configuration(
        service_endpoint=f"http://127.0.0.1:9/EWS/Exchange.asmx?pool-test-{max_connections}",
        credentials=Credentials("svc", "secret"),
        auth_type=BASIC,
        version=Version(build=EXCHANGE_2016),
        max_connections=max_connections,
    )
    account = Account("someone@example.test", config=config, autodiscover=False, access_type=IMPERSONATION)
    return account.protocol


def _returns_soon(call: object) -> bool:
    done = threading.Event()

    def run() -> None:
        call()  # type: ignore[operator]
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(timeout=5.0)


def test_backing_off_with_every_session_in_use_does_not_wait_for_a_session() -> None:
    protocol = _protocol(3)
    keep_pool_size(protocol)
    held = [protocol.get_session(), protocol.get_session()]  # type: ignore[attr-defined]
    assert _returns_soon(protocol.decrease_poolsize)  # type: ignore[attr-defined]
    assert protocol.session_pool_size == 2  # type: ignore[attr-defined]
    for session in held:
        protocol.release_session(session)  # type: ignore[attr-defined]


def test_unpatched_exchangelib_would_hang_here() -> None:
    """The same situation without keep_pool_size: the shrink holds the pool's lock while it waits (the bug)."""
    protocol = _protocol(4)
    held = [protocol.get_session(), protocol.get_session()]  # type: ignore[attr-defined]
    assert not _returns_soon(protocol.decrease_poolsize)  # type: ignore[attr-defined]
    del held
