"""exchange_applier: applies deltas.exchange to mailboxes through EWS, idempotently and in key order."""
