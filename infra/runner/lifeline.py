"""A child's lifeline to the stack: PR_SET_PDEATHSIG, so the kernel kills the child when its supervisor dies."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
DEATH_SIGNAL = int(signal.SIGKILL)
# Looked up in the parent, once: between fork and exec the child only makes the call (no dlopen there).
_prctl: Any = ctypes.CDLL(None, use_errno=True).prctl if sys.platform == "linux" else None


class LifelineError(RuntimeError):
    """A child would not be tied to the supervisor's life, so it could outlive it."""


def die_with_parent() -> Callable[[], None]:
    """A `preexec_fn` for subprocess.Popen: the child, right after fork and before exec, asks for SIGKILL when
    its parent dies, then exits at once if the parent already died (it was re-parented before prctl ran).

    Survives exec (none of the children is set-uid), is not inherited by a grandchild: a child that forks
    must tie its own children. The kernel signals when the *thread* that forked ends, not the process, so
    only the main thread may fork children: one forked from a worker thread would die with that thread.
    SIGKILL rather than SIGTERM: with the supervisor gone nobody would escalate a SIGTERM that hangs, and a
    crash is safe everywhere (at-least-once delivery, idempotent effects, Redis's AOF already written).
    """
    if threading.current_thread() is not threading.main_thread():
        raise LifelineError("children of the stack are started from the main thread only (PR_SET_PDEATHSIG)")
    parent = os.getpid()

    def tie() -> None:
        if _prctl is not None and _prctl(PR_SET_PDEATHSIG, DEATH_SIGNAL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")  # Popen reports it
        if os.getppid() != parent:
            os._exit(1)  # the supervisor died between fork and prctl: nobody would ever stop this child

    return tie
