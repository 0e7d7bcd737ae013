"""An app's events.log: spawns, readiness, exits, reloads and drains, one timestamped line each."""

from __future__ import annotations

import datetime as dt
from collections import deque
from pathlib import Path


class EventLog:
    """Appends to <log_dir>/<app>/events.log and keeps the recent lines for status pages."""

    def __init__(self, path: Path, keep: int = 200) -> None:
        self.path = path
        self.recent: deque[str] = deque(maxlen=keep)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a", encoding="utf-8", buffering=1)

    def record(self, event: str, detail: str = "", **fields: object) -> str:
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        parts = [stamp, event]
        parts += [f"{key}={value}" for key, value in fields.items() if value is not None]
        line = " ".join(parts)
        if detail:
            # Multi-line details (a traceback) stay readable and stay attached to their event.
            line += "\n" + "\n".join("    " + row for row in detail.rstrip("\n").splitlines())
        self._file.write(line + "\n")
        self.recent.append(line)
        return line

    def close(self) -> None:
        self._file.close()
