"""run_dir/swapped-apps.json: the apps whose staging folder serves production, so a restarted master keeps a swap."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable


class SwappedApps:
    """A JSON list of app names. Written atomically (a temporary file, fsynced, renamed over it); a missing or
    unreadable file means none. A write that fails is reported to the caller: the swap holds all the same,
    until the master restarts."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._names = self._load()

    def __contains__(self, app: str) -> bool:
        return app in self._names

    def flip(self, app: str) -> str:
        """`app`'s other folder serves production from now on; returns why it could not be written ("" if it was)."""
        self._names ^= {app}
        return self._save()

    def keep_only(self, apps: Iterable[str]) -> str:
        """Forget the apps that have no staging folder any more: one added again later starts unswapped."""
        kept = self._names & set(apps)
        if kept == self._names:
            return ""
        self._names = kept
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
