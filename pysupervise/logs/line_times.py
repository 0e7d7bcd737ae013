"""When the master read each piece of a worker's log file: a small index beside it, so that lines get times
while the log file keeps the worker's bytes untouched.

`<log file>.times` starts with a header (which run of the app's log store wrote it, and the worker's
generation), then one record per read batch: the byte offset in the log file where the batch starts and
the time it was read (microseconds since the epoch). Bytes from a record's offset up to the next record's
were read at its time. Records closer than a millisecond to the previous one are not written (the shown
time has millisecond resolution), and an index has a cap: the writer of a full index rolls its log over.

`live-generation` in the same folder names the generation that routing points at (run and number), so a
reader can mark the lines of workers from before it.
"""

from __future__ import annotations

import os
import struct
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

INDEX_SUFFIX = ".times"
LIVE_GENERATION_FILE = "live-generation"
_MAGIC = b"PSLT"
_VERSION = 1
# magic, version, reserved, run (µs since the epoch: when the app's log store was opened), generation (0: unknown)
_HEADER = struct.Struct("<4sHHqq")
# offset in the log file, time it was read (µs since the epoch)
_RECORD = struct.Struct("<qq")
_COALESCE_US = 1000
# The smallest cap, so that even tiny max_file_size settings leave room for a useful index.
_MIN_INDEX_BYTES = 4096


def index_path(log_path: Path) -> Path:
    return log_path.with_name(log_path.name + INDEX_SUFFIX)


def index_cap(max_file_size: int) -> int:
    """The most bytes one index may hold: a quarter of its log file's cap (at least 4 KiB)."""
    return max(_MIN_INDEX_BYTES, max_file_size // 4)


def remove_orphan_indexes(directory: Path, keep: Callable[[str], bool]) -> None:
    """Delete the indexes whose log file is gone (removed by hand, or a crash between the two unlinks);
    `keep(log file name)` says which to leave."""
    try:
        names = [entry.name for entry in os.scandir(directory) if entry.name.endswith(INDEX_SUFFIX)]
    except OSError:
        return
    for name in names:
        if not keep(name.removesuffix(INDEX_SUFFIX)):
            try:
                os.unlink(directory / name)
            except OSError:
                pass


class IndexWriteError(Exception):
    """An index could not be created or written (a full disk); the caller counts it and carries on."""

    def __init__(self, path: Path, cause: OSError) -> None:
        super().__init__(f"cannot write {path}: {cause.strerror or cause}")
        self.path = path
        self.cause = cause


class LineTimesWriter:
    """Appends records to one log file's index; only the master's event loop writes it.

    A record that cannot be written is dropped (its bytes then show the time of the record before it);
    `note` raises IndexWriteError so the caller can count it, and the next call tries again.
    """

    def __init__(self, log_path: Path, run: float, generation: int, max_bytes: int) -> None:
        self.path = index_path(log_path)
        self._header = _HEADER.pack(_MAGIC, _VERSION, 0, int(run * 1e6), generation)
        self._max_bytes = max(max_bytes, _HEADER.size + _RECORD.size)
        self._fd = -1
        self._size = 0
        self._last_us: int | None = None

    @property
    def size(self) -> int:
        """Bytes of the index on disk."""
        return self._size

    def note(self, offset: int, now: float) -> bool:
        """Bytes from `offset` on were read at `now`. False when the index is full (the log should roll
        over first). Raises IndexWriteError when the record is lost."""
        stamp = int(now * 1e6)
        if self._last_us is not None and stamp - self._last_us < _COALESCE_US:
            return True
        if self._size + _RECORD.size > self._max_bytes:
            return False
        if self._fd < 0:
            self._open()
        self._append(_RECORD.pack(offset, stamp))
        self._last_us = stamp
        return True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _open(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise IndexWriteError(self.path, exc) from None
        self._size = 0
        try:
            self._append(self._header)
        except IndexWriteError:
            self.close()
            raise

    def _append(self, data: bytes) -> None:
        try:
            written = os.write(self._fd, data)
        except OSError as exc:
            raise IndexWriteError(self.path, exc) from None
        if written < len(data):
            # Half a record would shift every later one: cut it away, as the other logs do with half lines.
            try:
                os.ftruncate(self._fd, self._size)
            except OSError:
                pass
            raise IndexWriteError(self.path, OSError(28, "No space left on device"))
        self._size += written


@dataclass(frozen=True)
class IndexHeader:
    run: float
    generation: int | None

    @property
    def key(self) -> tuple[float, int]:
        """Orders generations across runs of the log store (generation numbers start again at 1)."""
        return self.run, self.generation or 0


class LineTimes:
    """A log file's index as read so far; `refresh` reads what was appended since. Never raises for a
    missing or damaged index: its lines then have no known time."""

    def __init__(self, log_path: Path) -> None:
        self.path = index_path(log_path)
        self.header: IndexHeader | None = None
        self._offsets: list[int] = []
        self._times: list[float] = []
        self._read = 0

    def refresh(self) -> None:
        if self._read < 0:
            return
        try:
            with open(self.path, "rb") as file:
                file.seek(self._read)
                data = file.read()
        except OSError:
            return
        if self.header is None:
            if len(data) < _HEADER.size:
                return
            magic, version, _reserved, run, generation = _HEADER.unpack_from(data)
            if magic != _MAGIC or version != _VERSION:
                self._read = -1  # not ours: never read again
                return
            self.header = IndexHeader(run / 1e6, generation or None)
            data = data[_HEADER.size:]
            self._read = _HEADER.size
        whole = len(data) - len(data) % _RECORD.size
        for offset, stamp in _RECORD.iter_unpack(data[:whole]):
            self._offsets.append(offset)
            self._times.append(stamp / 1e6)
        self._read += whole

    def time_at(self, offset: int) -> float | None:
        """When the byte at `offset` was read; None before the first record (or with no index)."""
        index = bisect_right(self._offsets, offset) - 1
        return self._times[index] if index >= 0 else None


def write_live_generation(directory: Path, run: float, generation: int) -> None:
    """Replace the folder's live-generation file in one step; raises OSError (the caller counts it)."""
    temporary = directory / f".{LIVE_GENERATION_FILE}.tmp"
    temporary.write_text(f"{int(run * 1e6)} {generation}\n", encoding="ascii")
    os.replace(temporary, directory / LIVE_GENERATION_FILE)


def read_live_generation(directory: Path) -> tuple[float, int] | None:
    """(run, generation) of the live generation, comparable with IndexHeader.key; None when unknown."""
    try:
        run, generation = (directory / LIVE_GENERATION_FILE).read_text(encoding="ascii").split()
        return int(run) / 1e6, int(generation)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
