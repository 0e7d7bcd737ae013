"""One app's log folder: per-worker stream files that roll over by size and are purged by total size and count."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

from pysupervise.config import LogSettings
from pysupervise.logs.line_times import (IndexWriteError, LineTimesWriter, index_cap, index_path,
                                         remove_orphan_indexes, write_live_generation)
from pysupervise.periodic import TaskErrors

STREAMS = ("stdout", "stderr")
# The name under which errors of writing worker output are counted (metrics) and logged.
CAPTURE_TASK = "log-capture"

# `<slot>-<pid>-<stream>-<unix_ts>.log` is a worker stream's first file; its continuations after a
# rollover are `<slot>-<pid>-<stream>-<unix_ts>.<n>.log`, where <unix_ts> is when that file was
# created and n = 1, 2, … counts the rollovers, so two files of one stream never share a name even
# when they are created within the same second.
_WORKER_FILE = re.compile(r"(?P<slot>\d{1,9})-(?P<pid>\d{1,10})-(?P<stream>stdout|stderr)"
                          r"-(?P<created>\d{1,12})(?:\.(?P<seq>\d{1,9}))?\.log")


@dataclass(frozen=True)
class LogFile:
    """One worker stream file as the folder's index knows it."""

    path: Path
    slot: int
    pid: int
    stream: str
    created: int
    size: int
    sequence: int

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def stream_key(self) -> tuple[int, int, str]:
        """The worker stream this file belongs to; its rollovers share it."""
        return self.slot, self.pid, self.stream


def worker_file_name(slot: int, pid: int, stream: str, created: int, sequence: int = 0) -> str:
    suffix = f".{sequence}" if sequence else ""
    return f"{slot}-{pid}-{stream}-{created}{suffix}.log"


def parse_worker_file(path: Path, size: int = 0) -> LogFile | None:
    """The LogFile a name stands for, or None when the name is not a worker stream file's."""
    match = _WORKER_FILE.fullmatch(path.name)
    if match is None:
        return None
    return LogFile(path=path, slot=int(match["slot"]), pid=int(match["pid"]), stream=match["stream"],
                   created=int(match["created"]), size=size, sequence=int(match["seq"] or 0))


def scan_worker_files(directory: Path) -> list[LogFile]:
    """The worker stream files on disk, oldest first; symlinks and other non-regular files are ignored."""
    found: list[LogFile] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            size = entry.stat(follow_symlinks=False).st_size
        except OSError:
            continue
        log = parse_worker_file(Path(entry.path), size)
        if log is not None:
            found.append(log)
    found.sort(key=lambda f: (f.created, f.sequence, f.slot, f.pid, f.stream))
    return found


def _size_on_disk(path: Path) -> int:
    try:
        return os.stat(path, follow_symlinks=False).st_size
    except OSError:
        return 0


class AppLogs:
    """The index of one app's worker files (names and sizes, oldest first), built once from disk.

    Every StreamWriter of the app reports its growth here, so enforcing the limits costs two
    comparisons per write and never lists the directory. Not thread-safe: the master's event loop
    owns it.
    """

    def __init__(self, directory: Path, settings: LogSettings, errors: TaskErrors | None = None) -> None:
        self.directory = directory
        self.settings = settings
        # Worker output that could not be written (a full disk): counted here, reported to `errors`.
        self.errors = errors or TaskErrors()
        self.errors.register(CAPTURE_TASK)
        self.dropped_bytes = 0
        # Records of line times that could not be written: those lines show the time of the record before.
        self.dropped_times = 0
        # This run of the app's log store: with the generation, it orders workers across master restarts.
        self.run = time.time()
        directory.mkdir(parents=True, exist_ok=True)
        # name → LogFile with its size at scan time; sizes of files written since live in _sizes.
        self._files: dict[str, LogFile] = {}
        self._sizes: dict[str, int] = {}
        # Bytes of each log file's line-time index (logs/line_times.py), counted in the total with it.
        self._index_sizes: dict[str, int] = {}
        self._total = 0
        self._live: dict[str, StreamWriter] = {}
        self._enforcing = False
        for log in scan_worker_files(directory):
            self._add(log.name, log.size, _size_on_disk(index_path(log.path)))
        remove_orphan_indexes(directory, lambda name: name in self._sizes or parse_worker_file(Path(name)) is None)
        self._enforce_limits()

    # -- what the admin pages and the CLI read ------------------------------------------------------

    def files(self) -> list[LogFile]:
        """Worker stream files, newest first (in the order they were created)."""
        return [self._snapshot(name) for name in reversed(self._sizes)]

    def find(self, name: str) -> LogFile | None:
        return self._snapshot(name) if name in self._sizes else None

    def continuation(self, log: LogFile) -> LogFile | None:
        """The next existing file of the same worker stream after `log`, if the stream rolled over."""
        later = [f for f in map(self._snapshot, self._sizes)
                 if f.stream_key == log.stream_key and f.sequence > log.sequence]
        return min(later, key=lambda f: f.sequence) if later else None

    def is_live(self, name: str) -> bool:
        return name in self._live

    def mark_live(self, generation: int) -> None:
        """Routing now points at `generation`: readers mark the lines of older workers (`pysupervise logs`)."""
        try:
            write_live_generation(self.directory, self.run, generation)
        except OSError as exc:
            self.errors.report(CAPTURE_TASK, exc, f"cannot write {self.directory}/live-generation")

    @property
    def total_size(self) -> int:
        return self._total

    def update_settings(self, settings: LogSettings) -> None:
        """New limits (a config reload); they apply at once."""
        self.settings = settings
        self._enforce_limits()

    # -- writing -------------------------------------------------------------------------------------

    def open_stream(self, slot: int, pid: int, stream: str, generation: int = 0) -> StreamWriter:
        """`generation` goes into each file's line-time index (0: unknown), so readers can mark old workers."""
        if stream not in STREAMS:
            raise ValueError(f"stream must be one of {STREAMS}, got {stream!r}")
        return StreamWriter(self, slot, pid, stream, generation)

    def _create(self, writer: StreamWriter, slot: int, pid: int, stream: str,
                sequence: int) -> tuple[int, Path, int]:
        """Open a new file for `writer`: (fd, path, sequence used); the sequence skips names already taken."""
        created = int(time.time())
        while True:
            path = self.directory / worker_file_name(slot, pid, stream, created, sequence)
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o644)
            except FileExistsError:
                sequence += 1
                continue
            self._add(path.name, 0)
            self._live[path.name] = writer
            if len(self._sizes) > self.settings.max_files:
                self._enforce_limits()
            return fd, path, sequence

    def _grew(self, name: str, count: int) -> None:
        if name in self._sizes:
            self._sizes[name] += count
            self._total += count
        if self._total > self.settings.max_total_size:
            self._enforce_limits(writing=name)

    def _released(self, name: str) -> None:
        self._live.pop(name, None)

    def _index_grew(self, name: str, count: int) -> None:
        """Counted only: the limits are enforced on the log's next growth, which always follows (enforcing
        here could move the writer to a new file between a time record and the bytes it stands for)."""
        if name in self._sizes and count:
            self._index_sizes[name] = self._index_sizes.get(name, 0) + count
            self._total += count

    # -- index and purge -----------------------------------------------------------------------------

    def _add(self, name: str, size: int, index_size: int = 0) -> None:
        self._sizes[name] = size
        self._total += size
        log = parse_worker_file(self.directory / name, size)
        assert log is not None
        self._files[name] = log
        if index_size:
            self._index_sizes[name] = index_size
            self._total += index_size

    def _remove(self, name: str) -> None:
        self._total -= self._sizes.pop(name) + self._index_sizes.pop(name, 0)
        del self._files[name]
        for path in (self.directory / name, index_path(self.directory / name)):
            try:
                os.unlink(path)
            except OSError:
                pass  # already removed by hand, or not ours to remove: the index forgets it either way

    def _snapshot(self, name: str) -> LogFile:
        log = self._files[name]
        size = self._sizes[name]
        if log.size != size:
            log = LogFile(log.path, log.slot, log.pid, log.stream, log.created, size, log.sequence)
            self._files[name] = log
        return log

    def _over(self) -> bool:
        return self._total > self.settings.max_total_size or len(self._sizes) > self.settings.max_files

    def _enforce_limits(self, writing: str = "") -> None:
        """Delete the oldest finished files while over a limit; touch files being written only if they alone
        exceed the total by more than one file (the file a worker is writing right now is the one allowed extra)."""
        if self._enforcing or not self._over():
            return
        self._enforcing = True  # restart_file() below creates a file, which would come back here
        try:
            for name in [n for n in self._sizes if n not in self._live]:
                if not self._over():
                    return
                self._remove(name)
            allowance = self.settings.max_total_size + self.settings.max_file_size
            while self._total > allowance:
                # The file just written to goes last: the newest bytes are the ones worth keeping.
                victims = [n for n in self._sizes if n in self._live and self._sizes[n] > 0]
                victim = next((n for n in victims if n != writing), victims[0] if victims else None)
                if victim is None:
                    return
                # The writer moves on to a fresh (empty) file, so this loop always ends.
                self._live.pop(victim).restart_file()
        finally:
            self._enforcing = False


class StreamWriter:
    """One worker stream (stdout or stderr) written into its current file; rolls over by size.

    Never raises on a full disk: the master must keep reading the worker's pipe (the worker would block
    on its next print otherwise), so what cannot be written is counted as dropped, and a file that
    cannot be created is tried again on the next write.
    """

    def __init__(self, logs: AppLogs, slot: int, pid: int, stream: str, generation: int = 0) -> None:
        self.slot = slot
        self.pid = pid
        self.stream = stream
        self.generation = generation
        self.dropped_bytes = 0
        self._logs = logs
        self._size = 0
        self._closed = False
        self._fd = -1
        self._times: LineTimesWriter | None = None
        self._sequence = -1
        self.path = logs.directory / worker_file_name(slot, pid, stream, int(time.time()))
        self._next_file()

    def write(self, data: bytes, read_at: float | None = None) -> None:
        """Append `data` byte for byte; `read_at` (default: now) goes into the file's time index. A file never
        passes max_file_size: it takes what fits up to the last newline that fits, the rest goes to the next file,
        and a write larger than a whole file is cut (at its last newline that fits, if there is one)."""
        if self._closed:
            raise ValueError(f"write to a closed log stream: {self.path}")
        limit = max(self._logs.settings.max_file_size, 1)
        now = time.time() if read_at is None else read_at
        view = memoryview(data)
        while view:
            if self._fd < 0 and not self._next_file():
                self._dropped(len(view))
                return
            room = limit - self._size
            if len(view) <= room:
                piece = view
            elif self._size > 0:
                # The end of the line this file holds the start of, and whole lines after it, while they fit: a
                # program that writes a line and its newline apart (print, unbuffered) has it kept in one file.
                cut = bytes(view[:room]).rfind(b"\n") + 1
                if not cut:
                    self._roll()
                    continue
                piece = view[:cut]
            else:
                cut = bytes(view[:room]).rfind(b"\n") + 1
                piece = view[:cut or room]
            if not self._note_time(now) and self._size > 0:
                self._roll()  # its time index is full: a new file starts a new index
                continue
            if not self._write_all(piece):
                return
            view = view[len(piece):]

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close_file()

    @property
    def closed(self) -> bool:
        return self._closed

    def _write_all(self, piece: memoryview) -> bool:
        while piece:
            try:
                written = os.write(self._fd, piece)
            except OSError as exc:
                self._logs.errors.report(CAPTURE_TASK, exc, f"cannot write {self.path}; worker output is dropped")
                self._dropped(len(piece))
                return False
            piece = piece[written:]
            self._size += written
            # May purge, and may even move this writer to a new file (restart_file), hence path looked up here.
            self._logs._grew(self.path.name, written)
        return True

    def _note_time(self, now: float) -> bool:
        """Record before the bytes are written, so a reader never sees bytes whose time is not there yet.
        False when the index is full."""
        times = self._times
        if times is None:
            return True
        before = times.size
        try:
            fits = times.note(self._size, now)
        except IndexWriteError as exc:
            self._logs.errors.report(CAPTURE_TASK, exc.cause, f"{exc}; line times are dropped")
            self._logs.dropped_times += 1
            fits = True
        self._logs._index_grew(self.path.name, times.size - before)
        return fits

    def _dropped(self, count: int) -> None:
        self.dropped_bytes += count
        self._logs.dropped_bytes += count

    def _close_file(self) -> None:
        if self._times is not None:
            self._times.close()
            self._times = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self._logs._released(self.path.name)

    def _next_file(self) -> bool:
        """Continue in a new file; False (and no file) when none can be created now (a full disk)."""
        self._size = 0
        try:
            self._fd, self.path, self._sequence = self._logs._create(self, self.slot, self.pid, self.stream,
                                                                      self._sequence + 1)
        except OSError as exc:
            self._fd = -1
            self._logs.errors.report(CAPTURE_TASK, exc, f"cannot create a log file in {self._logs.directory}")
            return False
        self._times = LineTimesWriter(self.path, self._logs.run, self.generation,
                                      index_cap(self._logs.settings.max_file_size))
        return True

    def _roll(self) -> None:
        self._close_file()
        self._next_file()

    def restart_file(self) -> None:
        """Called by the purge when even the file being written has to go: delete it, continue in a new one."""
        if self._times is not None:
            self._times.close()
            self._times = None
        os.close(self._fd)
        self._fd = -1
        self._logs._remove(self.path.name)
        self._next_file()
