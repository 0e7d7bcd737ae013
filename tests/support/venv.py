"""Real virtual environments for tests of `python = ...`, built once and kept in a gitignored cache folder."""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".pysupervise-test-cache" / "venvs"
_COMPLETE = "pysupervise-test-venv-complete"


def cached_venv(requirements: tuple[str, ...], timeout: float = 600) -> Path:
    """A venv WITHOUT the system site-packages holding `requirements` (pip, from PyPI or the local index).

    Keyed by this interpreter and the requirements, so a rerun reuses it; a venv cannot be moved after it is
    built (its scripts name their interpreter's path), so it is built in place under a lock, and marked
    complete last."""
    key = hashlib.sha256("\n".join([sys.executable, sys.version, *requirements]).encode()).hexdigest()[:16]
    venv = CACHE / key
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / _COMPLETE).exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=timeout)
        pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *requirements],
                             timeout=timeout, capture_output=True, text=True)
        if pip.returncode != 0:
            raise RuntimeError(f"pip install {' '.join(requirements)} failed:\n{pip.stdout}{pip.stderr}")
        (venv / _COMPLETE).write_text("\n".join(requirements) + "\n")
    return venv
