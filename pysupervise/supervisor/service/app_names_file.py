"""A set of app names kept in a JSON file in run_dir, so that an operator's decision outlives the master."""

from __future__ import annotations

import json
import os
from pathlib import Path


class AppNamesFile:
    """A JSON list of app names. Written atomically (a temporary file, fsynced, renamed over it); a missing or
    unreadable file means none. A write that fails is reported to the caller, who keeps the decision in memory
    all the same, until the master restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._names = self._load()

    def __contains__(self, app: str) -> bool:
        return app in self._names

    def _change(self, names: set[str], write_unchanged: bool = False) -> str:
        """Keep `names` from now on; returns why they could not be written ("" when they were). An unchanged set
        is written again only if asked (an operator repeating a command whose write had failed)."""
        if names == self._names and not write_unchanged:
            return ""
        self._names = names
        return self._save()

    def _load(self) -> set[str]:
        try:
            names = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return set()
        return {name for name in names if isinstance(name, str)} if isinstance(names, list) else set()

    def _save(self) -> str:
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        try:
            with open(temporary, "w", encoding="utf-8") as file:
                json.dump(sorted(self._names), file)
                file.write("\n")
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, self.path)
        except OSError as exc:
            return f"cannot write {self.path}: {exc.strerror or exc}"
        return ""
