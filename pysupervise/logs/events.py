"""An app's events.log: spawns, readiness, exits, reloads and drains, one timestamped line each."""

from __future__ import annotations

import datetime as dt
import os
from collections import deque
from pathlib import Path

from pysupervise.periodic import TaskErrors


class EventLog:
    """Appends to <log_dir>/<app>/events.log and keeps the recent lines for status pages.

    A line that cannot be written (a full disk) is counted in `dropped_lines` and stays in `recent`:
    the supervisor records events on its way to restarting workers, which a full disk must not stop.
    """

    def __init__(self, path: Path, keep: int = 200, errors: TaskErrors | None = None,
                 host: str | None = None) -> None:
        self.path = path
        # Each line ends with host_id=<[supervisor] host_id>: lines shipped from many hosts to one place still say
        # where they happened.
        self.host = host or None
        self.recent: deque[str] = deque(maxlen=keep)
        self.dropped_lines = 0
        self._errors = errors or TaskErrors()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)

    def record(self, event: str, detail: str = "", **fields: object) -> str:
        stamp = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        parts = [stamp, event]
        parts += [f"{key}={value}" for key, value in {**fields, "host_id": self.host}.items() if value is not None]
        line = " ".join(parts)
        if detail:
            # Multi-line details (a traceback) stay readable and stay attached to their event.
            line += "\n" + "\n".join("    " + row for row in detail.rstrip("\n").splitlines())
        self.recent.append(line)
        self._write((line + "\n").encode("utf-8", "replace"))
        return line

    def _write(self, data: bytes) -> None:
        if self._fd < 0:
            return
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            written = 0
            self._errors.report("events-log", exc, f"cannot write {self.path}; events are dropped until it can")
        if written < len(data):
            # One write of one event: a part of it is worse than none, so a cut line goes as a whole.
            if written:
                try:
                    os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
                except OSError:
                    pass
            self.dropped_lines += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
