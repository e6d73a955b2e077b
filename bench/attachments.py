"""Attachment benchmark: how long an appointment's file takes to reach the other side, by size and direction.

    .venv/bin/python bench/attachments.py                  # 5 files of each size, each direction
    .venv/bin/python bench/attachments.py --files 3 --sizes 1024,1048576

With sync_appointment_attachments on, for each size: a file added to a CRM appointment (Web API, as its owner) is
timed until the Outlook item lists it (EWS through exchangelib; its bytes are then checked once), and a file
attached in Outlook until the CRM appointment lists it (bytes checked after). Polls read no content, so the
benchmark's own reads do not load the sandboxes. Prints p50 and max per direction and size, and the stack's CPU time
per file copied (all services, from /proc). Lifecycle: a Stack of its own (temporary folder, free ports), stopped
in every case; its folder and logs are kept when a file did not arrive.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from exchangelib import FileAttachment

from bench.harness import OwnStack
from bench.processes import ProcessSampler
from shared.settings import SANDBOX_ADMIN_TOKEN
from tests.e2e.conftest import ALICE, Crm, Mailboxes

TIMEOUT_S = 60.0


def wait(check: Callable[[], bool], what: str) -> float:
    """Seconds until `check` holds (polled every 50 ms), or AssertionError after TIMEOUT_S."""
    start = time.monotonic()
    while time.monotonic() - start < TIMEOUT_S:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {TIMEOUT_S}s: {what}")


def crm_files(crm: Crm, appointment_id: str, body: bool = False) -> list[tuple[str, Any]]:
    """(name, size) of each file, or (name, bytes) with `body`: polls read no content, the last check does."""
    select = "filename,body" if body else "filename,filesize"
    params = {"$filter": f"_objectid_value eq {appointment_id}", "$select": select}
    rows = crm.http.get("activitymimeattachments", params=params).raise_for_status().json()["value"]
    return [(r["filename"], base64.b64decode(r["body"] or "") if body else r["filesize"]) for r in rows]


def one_round(crm: Crm, mailboxes: Mailboxes, size: int, n: int) -> tuple[float, float]:
    """(CRM to Exchange, Exchange to CRM) seconds for one file of `size` bytes each way."""
    subject = f"bench-files-{size}-{n}-{time.monotonic_ns()}"
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    row = crm.create("appointments", ALICE, {"subject": subject, "scheduledstart": start.isoformat(),
                                             "scheduledend": (start + timedelta(hours=1)).isoformat()})  # fmt: skip
    appointment_id = row["activityid"]
    item = mailboxes.one(ALICE, "calendar", timeout=TIMEOUT_S, subject=subject)
    to_exchange = bytes((n + i) % 256 for i in range(size))
    body = {"objectid_activitypointer@odata.bind": f"/activitypointers({appointment_id})",
            "objecttypecode": "appointment", "filename": "crm.bin", "mimetype": "application/octet-stream",
            "body": base64.b64encode(to_exchange).decode()}  # fmt: skip
    crm.http.post("activitymimeattachments", json=body,
                  headers={"MSCRMCallerID": crm.users[ALICE]}).raise_for_status()  # fmt: skip

    def in_outlook() -> bool:  # metadata only while polling (no GetAttachment): the bytes are checked once after
        item.refresh()
        return any(a.name == "crm.bin" and a.size == size for a in item.attachments or [])

    crm_to_exchange = wait(in_outlook, f"crm.bin ({size} bytes) in Outlook")
    assert next(a for a in item.attachments if a.name == "crm.bin").content == to_exchange
    to_crm = bytes((n * 7 + i) % 256 for i in range(size))
    item.attach(FileAttachment(name="outlook.bin", content_type="application/octet-stream", content=to_crm))
    exchange_to_crm = wait(lambda: ("outlook.bin", size) in crm_files(crm, appointment_id),
                           f"outlook.bin ({size} bytes) in CRM")  # fmt: skip
    assert ("outlook.bin", to_crm) in crm_files(crm, appointment_id, body=True)
    return crm_to_exchange, exchange_to_crm


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/attachments.py", description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=5, help="files per size and direction (default 5)")
    parser.add_argument("--sizes", default="1024,262144,4194304",
                        help="file sizes in bytes (default 1 KiB, 256 KiB, 4 MiB)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    with OwnStack("attachments", 2, 1.0) as own:
        stack = own.stack
        token = {"Authorization": f"Bearer {SANDBOX_ADMIN_TOKEN}"}
        admin = httpx.Client(base_url=stack.urls["admin_api"], headers=token)
        admin.put("/api/v1/settings", json={"sync_appointment_attachments": True}).raise_for_status()
        crm, mailboxes = Crm(stack), Mailboxes(stack)
        sampler = ProcessSampler({p.name: p.pid for p in stack.processes if p.pid is not None}).start()
        one_round(crm, mailboxes, 16, 0)  # the settings in force, the pipeline warm
        sampler.mark_cpu()
        results: dict[int, tuple[list[float], list[float]]] = {}
        for size in sizes:
            times = [one_round(crm, mailboxes, size, n + 1) for n in range(args.files)]
            results[size] = ([t[0] for t in times], [t[1] for t in times])
        cpu = sum(sampler.cpu_s().values())
        sampler.stop()
        copied = 2 * args.files * len(sizes)
        print(f"bench/attachments.py {' '.join(argv)}".rstrip())
        print(f"{'size':>10}  {'CRM->Exchange p50':>18}  {'max':>6}  {'Exchange->CRM p50':>18}  {'max':>6}")
        for size, (out, back) in results.items():
            print(f"{size:>10}  {statistics.median(out):>17.2f}s  {max(out):>5.2f}s  "
                  f"{statistics.median(back):>17.2f}s  {max(back):>5.2f}s")
        print(f"CPU, all services: {cpu:.1f} s for {copied} files = {1000 * cpu / copied:.0f} ms per file copied "
              "(each round also creates and syncs the appointment)")
        own.ok = True
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
