"""The app's Python files the debugger page may show: found under the app's `dir`, never outside it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

# Folders that are never the app's own code, and would make the picker (and the walk) huge.
_SKIPPED_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".venv", "venv", "node_modules", ".tox", ".mypy_cache",
                 ".pytest_cache", "site-packages", ".pysupervise"}
MAX_FILES = 2000
MAX_SOURCE_BYTES = 2 * 1024 * 1024


def list_sources(root: Path) -> list[str]:
    """Python files under `root`, as sorted relative paths; symlinked folders and files are not followed."""
    found: list[str] = []
    base = os.path.realpath(root)
    for folder, dirs, files in os.walk(base, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        for name in sorted(files):
            path = os.path.join(folder, name)
            if name.endswith(".py") and not os.path.islink(path):
                found.append(os.path.relpath(path, base))
                if len(found) >= MAX_FILES:
                    return found
    return found


def resolve_source(root: Path, requested: str) -> Path | None:
    """The file `requested` (relative to `root`, or absolute inside it) if the page may read it: a regular
    .py file, reached without symlinks, inside the app's real folder. Anything else is None (404)."""
    if not requested or "\x00" in requested or not requested.endswith(".py"):
        return None
    base = Path(os.path.realpath(root))
    candidate = Path(requested) if os.path.isabs(requested) else base / requested
    candidate = Path(os.path.normpath(candidate))
    if base not in candidate.parents:
        return None
    try:
        if os.path.realpath(candidate) != str(candidate) or not stat.S_ISREG(os.lstat(candidate).st_mode):
            return None  # a symlink on the way (to anywhere), or not a plain file
    except OSError:
        return None
    return candidate


def read_source(path: Path) -> str:
    """The file's text (raises OSError); refuses symlinks at open time too."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(MAX_SOURCE_BYTES + 1)
    if len(data) > MAX_SOURCE_BYTES:
        raise OSError(f"{path.name} is larger than {MAX_SOURCE_BYTES} bytes")
    return data.decode("utf-8", "replace")
