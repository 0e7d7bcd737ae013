"""A process stopped for the length of a block: the attack of a blocked event loop, a starved or paged-out process."""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """SIGSTOP for the block (it reads nothing, neither clients nor its master), SIGCONT after, unless it was killed
    meanwhile."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
