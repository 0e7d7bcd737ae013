"""The master's copies of the runtime's own packages, last on sys.path, for a worker run by an app's own Python.

With `python = ".venv/bin/python"` the venv may lack uvicorn or aiohttp. The master names folders of links to its
copies (`supervisor/interpreter/runtime_links.py`) in PYSUPERVISE_FALLBACK_PATH. Appended at the end, they are found
only when the venv has no package of that name: the app's own Flask, click or aiohttp always win.
"""

from __future__ import annotations

import os
import sys
from typing import Mapping

# Spelled also in supervisor/interpreter/app_python.py: this side imports nothing of the master's.
FALLBACK_PATH_ENV = "PYSUPERVISE_FALLBACK_PATH"


def append_master_packages(environ: Mapping[str, str] = os.environ) -> None:
    """Before the runtime imports uvicorn, aiohttp or uvloop; a no-op for workers run by the master's own Python."""
    for folder in environ.get(FALLBACK_PATH_ENV, "").split(os.pathsep):
        if folder and folder not in sys.path:
            sys.path.append(folder)
