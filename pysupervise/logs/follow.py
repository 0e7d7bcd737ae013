"""Reading an app's worker logs as one stream for `pysupervise logs`: every worker's stdout and stderr merged in
the order the master read the lines (their time indexes, logs/line_times.py), the last lines first, then followed."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

from pysupervise.logs.app_logs import LogFile, scan_worker_files
from pysupervise.logs.line_times import IndexHeader, LineTimes, read_live_generation
from pysupervise.logs.log_line import LogLine, format_line

POLL_SECONDS = 0.1
# A line still missing its newline after this long is printed anyway (a prompt, a progress dot).
_PARTIAL_SECONDS = 0.5
# A line is printed this long after it is first seen: another worker's line that the master read just
# before it, but that this reader finds one poll later, still comes first.
HOLD_SECONDS = 0.3
_READ_BYTES = 256 * 1024
_BLOCK = 64 * 1024


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").removesuffix("\r")


def _last_lines(path: Path, end: int, count: int) -> list[tuple[int, bytes]]:
    """The last `count` lines among the file's first `end` bytes, with their offsets, read backwards."""
    if count <= 0 or end <= 0:
        return []
    try:
        with open(path, "rb") as file:
            data = b""
            position = end
            while position > 0 and data.count(b"\n") <= count:
                step = min(_BLOCK, position)
                position -= step
                file.seek(position)
                data = file.read(step) + data
    except OSError:
        return []
    return _split(data, position, whole_first=position == 0)[-count:]


def _split(data: bytes, start: int, whole_first: bool = True) -> list[tuple[int, bytes]]:
    """(offset, line) for each line of `data` read at offset `start`; a last piece without newline included."""
    lines, offset = [], start
    for piece in data.split(b"\n"):
        lines.append((offset, piece))
        offset += len(piece) + 1
    if lines[-1][1] == b"":
        lines.pop()
    return lines if whole_first else lines[1:]  # the first piece may be the end of a longer line


class _Source:
    """One worker file: its time index, and how far it has been read."""

    def __init__(self, log: LogFile) -> None:
        self.log = log
        self.times = LineTimes(log.path)
        self.offset = 0

    @property
    def header(self) -> IndexHeader | None:
        return self.times.header

    def time_of(self, offset: int, fallback: float) -> tuple[float, bool]:
        """(time, exact). Without an index (a file of an older pysupervise), `fallback`; with one whose
        records before `offset` were lost (a full disk), the file's creation second."""
        stamp = self.times.time_at(offset)
        if stamp is not None:
            return stamp, True
        return (float(self.log.created) if self.header is not None else fallback), False


class _Pending:
    """A worker stream's unfinished line: it may go on in the next file after a rollover."""

    def __init__(self) -> None:
        self.data = b""
        self.time = 0.0
        self.exact = True
        self.since = 0.0
        self.source: _Source | None = None


class MergedLogReader:
    """The worker files of one app folder, merged by time: the last lines first, then whatever is appended."""

    def __init__(self, directory: Path, stderr_only: bool) -> None:
        self.directory = directory
        self.stderr_only = stderr_only
        self._sources: dict[str, _Source] = {}
        self._pending: dict[tuple[int, int, str], _Pending] = {}
        # Lines seen but not printed yet: (seen at, time, order, source, text, exact).
        self._held: list[tuple[float, float, int, _Source, str, bool]] = []
        self._order = 0

    def _scan(self) -> list[_Source]:
        """The files on disk now, oldest first; sources of purged files are forgotten."""
        files = scan_worker_files(self.directory)
        if self.stderr_only:
            files = [f for f in files if f.stream == "stderr"]
        sources = []
        for log in files:
            source = self._sources.get(log.name)
            if source is None:
                source = self._sources[log.name] = _Source(log)
            source.log = log
            sources.append(source)
        present = {log.name for log in files}
        for name in [n for n in self._sources if n not in present]:
            del self._sources[name]
        return sources

    def last_lines(self, count: int) -> list[LogLine]:
        """The last `count` lines of all files, in time order. Following starts after them."""
        candidates: list[tuple[float, int, _Source, str, bool]] = []
        for source in self._scan():
            source.offset = source.log.size
            source.times.refresh()
            fallback = _mtime(source.log.path)
            for offset, raw in _last_lines(source.log.path, source.log.size, count):
                stamp, exact = source.time_of(offset, fallback)
                candidates.append((stamp, self._next_order(), source, _decode(raw), exact))
        candidates.sort(key=lambda c: (c[0], c[1]))
        chosen = candidates[-count:] if count > 0 else []
        return self._lines([(stamp, source, text, exact) for stamp, _order, source, text, exact in chosen])

    def poll(self, now: float | None = None) -> list[LogLine]:
        """Lines appended since the last call (new workers' files and rollovers included), each printed
        HOLD_SECONDS after it was first seen, in time order."""
        now = time.monotonic() if now is None else now
        for source in self._scan():
            self._read_new(source, now)
        for pending in self._pending.values():
            if pending.data and now - pending.since >= _PARTIAL_SECONDS and pending.source is not None:
                self._hold(now, pending.time, pending.source, _decode(pending.data), pending.exact)
                pending.data = b""
        ripe = [held for held in self._held if now - held[0] >= HOLD_SECONDS]
        if not ripe:
            return []
        # Lines seen later but read by the master earlier than a ripe line go out with it, in their place.
        latest = max(held[1] for held in ripe)
        out = sorted((held for held in self._held if held[1] <= latest), key=lambda held: (held[1], held[2]))
        self._held = [held for held in self._held if held[1] > latest]
        return self._lines([(stamp, source, text, exact) for _seen, stamp, _order, source, text, exact in out])

    def _read_new(self, source: _Source, now: float) -> None:
        log = source.log
        if log.size <= source.offset:
            return
        try:
            with open(log.path, "rb") as file:
                file.seek(source.offset)
                data = file.read(min(log.size - source.offset, _READ_BYTES))
        except OSError:
            return
        start, source.offset = source.offset, source.offset + len(data)
        # After the bytes: the master writes a batch's time before the batch, so every byte read has its time.
        source.times.refresh()
        pending = self._pending.setdefault(log.stream_key, _Pending())
        wall = time.time()
        lines = _split(data, start)
        unfinished = lines.pop() if not data.endswith(b"\n") else None
        for offset, raw in lines:
            if pending.data:  # the end of a line begun earlier (maybe in the file before a rollover)
                raw, stamp, exact = pending.data + raw, pending.time, pending.exact
                pending.data = b""
            else:
                stamp, exact = source.time_of(offset, wall)
            self._hold(now, stamp, source, _decode(raw), exact)
        if unfinished is not None:
            offset, rest = unfinished
            if not pending.data:
                pending.time, pending.exact = source.time_of(offset, wall)
            pending.data += rest
            pending.since, pending.source = now, source

    def _hold(self, now: float, stamp: float, source: _Source, text: str, exact: bool) -> None:
        self._held.append((now, stamp, self._next_order(), source, text, exact))

    def _next_order(self) -> int:
        self._order += 1
        return self._order

    def _lines(self, picked: list[tuple[float, _Source, str, bool]]) -> list[LogLine]:
        """LogLines, each marked old when its worker belongs to a generation before the live one."""
        headers = [s.header for s in self._sources.values() if s.header is not None]
        live = read_live_generation(self.directory)
        if live is None and headers:
            live = max(header.key for header in headers)
        lines = []
        for stamp, source, text, exact in picked:
            header, log = source.header, source.log
            # A file without an index was written by an older pysupervise: older than any file with one.
            old = header.key < live if header is not None and live is not None else bool(headers)
            lines.append(LogLine(stamp, exact, log.slot, log.pid, log.stream,
                                 header.generation if header is not None else None, old, text))
        return lines


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return time.time()


def app_log_lines(log_dir: Path, app: str, *, stderr_only: bool, last: int, follow: bool,
                  colour: bool = False) -> Iterator[str]:
    """Merged worker logs of `app`, one formatted line per item (log_line.format_line): the last `last`
    lines, then (follow) new lines as they are written, until KeyboardInterrupt. Raises FileNotFoundError
    naming the folder when the app has no log folder."""
    directory = Path(log_dir) / app
    if not directory.is_dir():
        raise FileNotFoundError(f"no logs for app {app!r}: {directory} does not exist")
    reader = MergedLogReader(directory, stderr_only)
    try:
        for line in reader.last_lines(last):
            yield format_line(line, colour)
        while follow:
            lines = reader.poll()
            for line in lines:
                yield format_line(line, colour)
            if not lines:
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        return
