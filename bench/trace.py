"""The history of one pair's field in a kept events.jsonl, in time order: made, captured, decided, applied, conflicts.

    .venv/bin/python bench/trace.py /tmp/fieldsync-convergence-xxxx/events.jsonl <crm id or exchange id> [field]

For the post-mortem of a divergence or a lost change: a benchmark run that finds one keeps its data folder with
events.jsonl (bench/scenario.write_dump): the changes the traffic made, every DeltaApplied, the recorded
conflicts and, from the convergence benchmark, every ItemChanged, ItemDelta and SyncDecision on the bus.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _short(value: Any) -> str:
    return str(value)[:60]


def _lines(event: dict[str, Any], topic: str, field: str | None) -> Iterator[tuple[str, str]]:
    """(time, line) for one bus event that concerns the field (or any field)."""
    changed = event.get("changed") or {}
    if topic.endswith("changes") and (field is None or field in changed):
        previous = event.get("previous") or {}
        for key in [field] if field else sorted(changed):
            yield event["captured_at"], (f"CAPTURED {event['source']['system']:<8} {key}={_short(changed[key])} "
                                         f"previous={_short(previous.get(key))} occurred {event['occurred_at']} "
                                         f"version {event.get('version')} event {event['event_id'][:8]}")
    elif topic.endswith("decisions"):
        outcomes = [o for o in event["outcomes"] if (field is None or o["field"] == field)
                    and (o["synced"] or o["reason"] in ("conflict", "security"))]
        if outcomes:
            said = ", ".join(f"{o['field']}->{o['target']} {'synced' if o['synced'] else o['reason']}"
                             for o in outcomes)
            yield event["decided_at"], (f"DECIDED  {event['source']['system']:<8} {said} "
                                        f"(change {event['causation_id'][:8]})")
    elif "deltas" in topic and (field is None or field in changed):
        expected = event.get("expected") or {}
        shown = {k: v for k, v in changed.items() if field is None or k == field}
        yield event["decided_at"], (f"DELTA    to {event['target']:<5} {_short(shown)} expected "
                                    f"{_short({k: v for k, v in expected.items() if k in shown})} "
                                    f"(change {event['causation_id'][:8]})")


def _ids(lines: list[dict[str, Any]], ident: str) -> set[str]:
    """The id given and its counterpart: events that name both ids of the pair link them."""
    found = {ident}
    for line in lines:
        event = line.get("event", line)
        ids = {event.get("crm_id"), event.get("exchange_id")} - {None}
        if ident in ids:
            found |= ids
    return found


def trace(path: Path, ident: str, field: str | None) -> list[tuple[str, str]]:
    lines = [json.loads(raw) for raw in path.read_text().splitlines()]
    ids = _ids(lines, ident)
    rows: list[tuple[str, str]] = []
    for line in lines:
        if "change" in line:
            c = line["change"]
            if c["record_id"] in ids and (field is None or c["field"] == field):
                rows.append((c["acked_at"], f"MADE     {c['side']:<8} {c['field']}={_short(c['value'])} sent "
                                            f"{c['sent_at']} pair {c['pair']}"))
        elif "conflict" in line:
            k = line["conflict"]
            if k["crm_id"] in ids and (field is None or k["field"] == field):
                rows.append((k["decided_at"], f"CONFLICT {k['field']} crm={_short(k['crm_value'])} at "
                                              f"{k['crm_modified_at']} exchange={_short(k['exchange_value'])} at "
                                              f"{k['exchange_modified_at']}: {k['winner']} won ({k['rule']})"))
        elif "topic" in line:
            event = line["event"]
            if ids & {event.get("crm_id"), event.get("exchange_id")}:
                rows += list(_lines(event, line["topic"], field))
        elif ids & {line.get("crm_id"), line.get("exchange_id")}:
            written = {k: v for k, v in line["changed"].items() if field is None or k == field}
            if written or line["result"] in ("superseded", "failed"):
                note = f" {line['error'][:160]}" if line.get("error") else ""
                rows.append((line["applied_at"], f"APPLIED  to {line['target']:<5} {line['result']} "
                                                 f"{_short(written)}{note}"))
    return sorted(rows)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3):
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    for moment, text in trace(Path(argv[0]), argv[1], argv[2] if len(argv) == 3 else None):
        print(f"{moment[11:23]}  {text}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
