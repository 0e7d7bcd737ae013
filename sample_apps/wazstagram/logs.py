"""Each role logs to stdout, as the original did with winston, so the lines land in pysupervise's per-app logs."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_to_stdout(name: str) -> logging.Logger:
    """The role's logger, writing INFO and up to stdout; calling it again adds no second handler."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    if not any(getattr(handler, "wazstagram_stdout", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler.wazstagram_stdout = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    return logger
