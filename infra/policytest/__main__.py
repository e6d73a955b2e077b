"""`python -m infra.policytest REQUEST.json`: one sync-time test in a process of its own, for the admin API's job.

The admin API cannot start the stack's children itself: they are tied to the life of the thread that forks them
(PR_SET_PDEATHSIG), and its event loop must not block for minutes. So its job runs this, which reads a
PolicyTestRequest, prints one JSON line per progress step ({"progress": 0.42, "stage": "..."}) and ends with
{"report": {...}} (exit 0) or {"error": "..."} (exit 1). SIGTERM stops the test the way Ctrl-C does: every child
of its isolated stack is stopped before it exits.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType

from infra.policytest.run import PolicyTestFailed, PolicyTestRequest, run_policy_test


def _interrupt(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second one must not cut the orderly stop short
    raise KeyboardInterrupt


def _emit(line: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    request = PolicyTestRequest.model_validate_json(Path(argv[0]).read_text(encoding="utf-8"))
    try:
        report = run_policy_test(request, lambda share, stage: _emit({"progress": round(share, 3), "stage": stage}))
    except PolicyTestFailed as exc:
        _emit({"error": str(exc)})
        return 1
    except KeyboardInterrupt:
        _emit({"error": "stopped before the end"})
        return 1
    _emit({"report": report.model_dump(mode="json")})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
