"""Tie a child's life to its parent's with Linux PR_SET_PDEATHSIG, so a killed master leaves no orphans.

It runs in the child, between fork and exec: the master hands `child_setup()` to every process it starts
(workers, the debug adapter) as their `preexec_fn`.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Callable

_PR_SET_PDEATHSIG = 1
# Loaded once at import: the call below also runs between fork and exec, where loading is unwise.
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def die_with_parent(expected_parent: int | None = None) -> None:
    """Ask the kernel to SIGKILL this process when its parent exits; exit now if it already has."""
    if _LIBC is None:
        return
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    # The parent may have died between fork and prctl; then nobody would ever signal us.
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)


def child_setup(master_pid: int) -> Callable[[], None]:
    """A `preexec_fn`: the child dies with the master (its own session is set by Popen)."""

    def setup() -> None:
        die_with_parent(master_pid)

    return setup
