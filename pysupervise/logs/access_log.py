"""An app's access.log: one line per request, recorded as a tuple and formatted and written by the sweeper's
flush (no formatting and no syscall per request); lines are dropped, and counted, while the disk is full.

Other front processes format their own lines (format_lines) and send them to the master in their reports, which
merges them in (record_formatted): the master, which also runs the supervisor and one front of its own, does not
format every front's lines."""

from __future__ import annotations

import os
import re
import time
from operator import itemgetter
from pathlib import Path

from pysupervise.periodic import TaskErrors

# Anything but visible ASCII, plus the quote and the backslash, is written as \xNN.
_NEEDS_ESCAPE = re.compile(rb'[^\x21-\x7e]|["\\]')
# The bytes written as they are; deleting them from a field leaves nothing when the field needs no escaping.
_VERBATIM = bytes(b for b in range(0x21, 0x7f) if b not in b'"\\')
# What a line holds besides its fields: 8 spaces between its 9 fields, and the newline.
_SEPARATORS_PER_LINE = 9
# Lines are written once this many wait, and by the sweeper's flush every 0.25 s.
_LINES_MAX = 2048
# A record's end time, its first field: the sort key of a flush, called per record in C.
_END_TIME = itemgetter(0)
_TASK = "access-log"
# A line's pieces that take few values, made once: the milliseconds after its time's second, and the status.
_MILLISECONDS = tuple(b".%03dZ " % milliseconds for milliseconds in range(1000))
_STATUSES = tuple(b" %d " % status for status in range(1000))


def _safe(raw: bytes) -> bytes:
    """Bytes from the network, printable and unambiguous on one log line (a C-speed check first: a third of
    a regex search's cost on a short field)."""
    if not raw.translate(None, _VERBATIM):
        return raw
    return _NEEDS_ESCAPE.sub(_escaped, raw)


def _escaped(match: re.Match[bytes]) -> bytes:
    return b"\\x%02x" % match.group()[0]


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
            data = _merged(data, self._formatted)
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


def format_lines(records: list[tuple]) -> bytes:
    """`time client method url status bytes seconds worker request-id` lines, in the order the requests ended
    (the list is sorted in place), from AccessLog.record's tuples.

    Formatted first as they came, then checked all at once: deleting the bytes written verbatim leaves exactly
    each line's own 8 spaces and newline unless a field needs escaping, which is rare; then they are formatted
    again, field by field (a third of the cost of checking each field)."""
    if not records:
        return b""
    records.sort(key=_END_TIME)
    data = _formatted(records, escape=False)
    if len(data.translate(None, _VERBATIM)) == _SEPARATORS_PER_LINE * len(records):
        return data
    return _formatted(records, escape=True)


def _merged(own: bytes, others: list[bytes]) -> bytes:
    """Lines of several fronts in the order their requests ended: each line starts with its end time, fixed-width
    and UTC, so ordering the lines orders the times (a front's lines arrive up to a report late)."""
    pieces = [piece for piece in (own, *others) if piece]
    if len(pieces) == 1:
        return pieces[0]  # one front's lines: already in order
    lines = b"".join(pieces).split(b"\n")
    lines.pop()  # after the last newline
    lines.sort()
    lines.append(b"")
    return b"\n".join(lines)


def _formatted(records: list[tuple], escape: bool) -> bytes:
    """The lines as pieces of one list, joined once: a bytes format per line, parsing its format string each time,
    cost a third more (compiled, each append is inlined)."""
    out: list[bytes] = []
    second, stamp = -1, b""
    encoded = {"": b"-"}  # client addresses and worker labels, encoded once per flush
    for now, client_ip, method, url, status, body_bytes, seconds, worker, request_id in records:
        if int(now) != second:
            # Formatting a timestamp is the slowest part of a line; it changes once a second.
            second = int(now)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        if escape:
            method, url, request_id = _safe(method), _safe(url), _safe(request_id)
        client = encoded.get(client_ip)
        if client is None:
            client = encoded[client_ip] = client_ip.encode()
        label = encoded.get(worker)
        if label is None:
            label = encoded[worker] = worker.encode()
        out.append(stamp)
        out.append(_MILLISECONDS[int((now - second) * 1000)])
        out.append(client)
        out.append(b" ")
        out.append(method)
        out.append(b" ")
        out.append(url)
        out.append(_STATUSES[status] if 0 <= status < len(_STATUSES) else b" %d " % status)
        out.append(b"%d %.4f " % (body_bytes, seconds))
        out.append(label)
        out.append(b" ")
        out.append(request_id)
        out.append(b"\n")
    return b"".join(out)
