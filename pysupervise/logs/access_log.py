"""An app's access.log: one line per request, recorded as a tuple and formatted and written by the sweeper's
flush (no formatting and no syscall per request); lines are dropped, and counted, while the disk is full.

Other front processes format their own lines (access_lines.py) and send them to the master in their reports, which
merges them in (record_formatted): the master, which also runs the supervisor and one front of its own, does not
format every front's lines."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pysupervise.access_lines import format_lines, merge_lines
from pysupervise.periodic import TaskErrors

# Lines are written once this many wait, and by the sweeper's flush every 0.25 s.
_LINES_MAX = 2048
_TASK = "access-log"


class AccessLog:
    """`time client method url status bytes seconds worker request-id`, space-separated.

    Past `rotate_at` bytes the file becomes `access.log.1` (replacing the previous one), so an
    app's access logs stay under twice that size. While the file cannot be written (a full disk),
    lines are dropped and counted, never raised into the request path or the sweeper; writing
    resumes by itself once there is room again.
    """

    __slots__ = ("path", "rotate_at", "dropped_lines", "_errors", "_fd", "_size", "_records", "_formatted",
                 "_formatted_lines", "_closed")

    def __init__(self, path: Path, max_file_size: int = 1024 * 1024, errors: TaskErrors | None = None) -> None:
        self.path = path
        # Access lines are small and many: a few worker-file sizes per access log file.
        self.rotate_at = max(4 * max_file_size, 64 * 1024)
        self.dropped_lines = 0
        self._errors = errors or TaskErrors()
        self._errors.register(_TASK)
        self._fd = -1
        self._size = 0
        # Requests not yet written: (time, client, method, url, status, bytes, seconds, worker, request id).
        self._records: list[tuple] = []
        # Lines other fronts formatted, as they sent them, and how many lines they hold together.
        self._formatted: list[bytes] = []
        self._formatted_lines = 0
        self._closed = False
        path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    def record(self, client_ip: str, method: bytes, url: bytes, status: int, body_bytes: int,
               seconds: float, worker: str, request_id: bytes) -> None:
        records = self._records
        records.append((time.time(), client_ip, method, url, status, body_bytes, seconds, worker, request_id))
        if len(records) >= _LINES_MAX:
            self._write()

    def record_formatted(self, data: bytes, lines: int) -> None:
        """`lines` whole lines another front process formatted (format_lines), in the order its requests ended."""
        if not lines:
            return
        self._formatted.append(data)
        self._formatted_lines += lines
        if len(self._records) + self._formatted_lines >= _LINES_MAX:
            self._write()

    def flush(self) -> None:
        """Called by the proxy's sweeper; also the moment to rotate (not once per line)."""
        if self._closed:
            return
        if self._records or self._formatted:
            self._write()
        if self._fd >= 0 and self._size > self.rotate_at:
            self._rotate()

    def close(self) -> None:
        if not self._closed:
            self.flush()
            self._closed = True
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _open(self) -> bool:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
            self._size = os.fstat(self._fd).st_size
        except OSError as exc:
            self._failed(exc)
            return False
        return True

    def _write(self) -> None:
        records, self._records = self._records, []
        lines = len(records) + self._formatted_lines
        data = format_lines(records)
        if self._formatted:
            data = merge_lines(data, self._formatted)
            self._formatted, self._formatted_lines = [], 0
        if self._fd < 0 and not self._open():
            self.dropped_lines += lines
            return
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                written += os.write(self._fd, view[written:])
        except OSError as exc:
            # Keep whole lines only: a line cut by a full disk would glue onto the next one written.
            whole = data.rfind(b"\n", 0, written) + 1
            if whole < written:
                try:
                    os.ftruncate(self._fd, self._size + whole)
                except OSError:
                    pass
            self.dropped_lines += lines - data.count(b"\n", 0, whole)
            written = whole
            self._failed(exc)
        self._size += written

    def _rotate(self) -> None:
        try:
            os.replace(self.path, self.path.with_name(self.path.name + ".1"))
        except OSError as exc:
            self._failed(exc)
            return
        os.close(self._fd)
        self._fd = -1
        self._open()

    def _failed(self, exc: OSError) -> None:
        self._errors.report(_TASK, exc, f"cannot write {self.path}; access lines are dropped until it can")
