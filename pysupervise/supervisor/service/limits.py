"""Process limits the master raises for itself at start."""

from __future__ import annotations

import resource


def raise_open_file_limit() -> None:
    """Every client and every pooled worker connection is a file descriptor; use what the system allows (the
    front processes and workers inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
