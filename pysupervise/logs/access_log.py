"""An app's access.log: one line per request, buffered and flushed by the sweeper (no syscall per request)."""

from __future__ import annotations

import re
import time
from pathlib import Path

# Anything but visible ASCII, plus the quote and the backslash, is written as \xNN.
_NEEDS_ESCAPE = re.compile(rb'[^\x21-\x7e]|["\\]')


def _safe(raw: bytes) -> bytes:
    """Bytes from the network, printable and unambiguous on one log line (a C-speed check first)."""
    if _NEEDS_ESCAPE.search(raw) is None:
        return raw
    return _NEEDS_ESCAPE.sub(_escaped, raw)


def _escaped(match: re.Match[bytes]) -> bytes:
    return b"\\x%02x" % match.group()[0]


class AccessLog:
    """`time client method url status bytes seconds worker request-id`, space-separated.

    Past `rotate_at` bytes the file becomes `access.log.1` (replacing the previous one), so an
    app's access logs stay under twice that size.
    """

    __slots__ = ("path", "rotate_at", "_file", "_second", "_stamp")

    def __init__(self, path: Path, max_file_size: int = 1024 * 1024) -> None:
        self.path = path
        # Access lines are small and many: a few worker-file sizes per access log file.
        self.rotate_at = max(4 * max_file_size, 64 * 1024)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab", buffering=256 * 1024)
        self._second = -1
        self._stamp = b""

    def record(self, client_ip: str, method: bytes, url: bytes, status: int, body_bytes: int,
               seconds: float, worker: str, request_id: bytes) -> None:
        now = time.time()
        second = int(now)
        if second != self._second:
            # Formatting a timestamp is the slowest part of a line; it changes once a second.
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        # One bytes format: a line is written per request, so no str round trip.
        self._file.write(b"%s.%03dZ %s %s %s %d %d %.4f %s %s\n" % (
            self._stamp, int((now - second) * 1000), client_ip.encode(), _safe(method), _safe(url), status,
            body_bytes, seconds, worker.encode() if worker else b"-", _safe(request_id)))

    def flush(self) -> None:
        """Called by the proxy's sweeper; also the moment to rotate (not once per line)."""
        if self._file.closed:
            return
        self._file.flush()
        if self._file.tell() > self.rotate_at:
            self._file.close()
            self.path.replace(self.path.with_name(self.path.name + ".1"))
            self._file = open(self.path, "ab", buffering=256 * 1024)

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
