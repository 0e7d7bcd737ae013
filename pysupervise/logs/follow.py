"""Reading an app's worker logs as one stream for `pysupervise logs`: the last lines, then follow them."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

from pysupervise.logs.app_logs import LogFile, scan_worker_files

POLL_SECONDS = 0.1
# A line still missing its newline after this long is printed anyway (a prompt, a progress dot).
_PARTIAL_SECONDS = 0.5
_READ_BYTES = 256 * 1024
_BLOCK = 64 * 1024


def _prefix(log: LogFile) -> str:
    return f"[{log.slot} {log.stream}] "


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").removesuffix("\r")


def _last_lines(path: Path, end: int, count: int) -> list[bytes]:
    """The last `count` lines among the file's first `end` bytes, read backwards block by block."""
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
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    if position > 0:
        lines = lines[1:]  # the first piece may be the end of a longer line
    return lines[-count:]


class _Stream:
    """One worker stream (slot, pid, stream) followed across its rollover files; holds an unfinished line."""

    def __init__(self, log: LogFile) -> None:
        self.log = log
        self.offsets: dict[str, int] = {}
        self.pending = b""
        self.pending_since = 0.0


class LogFollower:
    """The worker files of one app folder, the last lines first, then whatever is appended, file by file."""

    def __init__(self, directory: Path, stderr_only: bool) -> None:
        self.directory = directory
        self.stderr_only = stderr_only
        self._streams: dict[tuple[int, int, str], _Stream] = {}

    def _files(self) -> list[LogFile]:
        files = scan_worker_files(self.directory)
        return [f for f in files if f.stream == "stderr"] if self.stderr_only else files

    def last_lines(self, count: int) -> list[str]:
        """The last `count` lines. Files are taken in order of their last write, each file's lines in order:
        without timestamps per line, that is the best merge there is. Records where following starts."""
        files = self._files()
        for log in files:
            stream = self._streams.setdefault(log.stream_key, _Stream(log))
            stream.offsets[log.name] = log.size
        by_last_write = sorted(files, key=_mtime)
        picked: list[str] = []
        for log in reversed(by_last_write):
            if len(picked) >= count:
                break
            lines = _last_lines(log.path, log.size, count - len(picked))
            picked[:0] = [_prefix(log) + _decode(line) for line in lines]
        return picked

    def poll(self) -> list[str]:
        """Lines appended since the last call, including new workers' files and rollovers."""
        out: list[str] = []
        now = time.monotonic()
        for log in self._files():
            stream = self._streams.get(log.stream_key)
            if stream is None:
                stream = self._streams[log.stream_key] = _Stream(log)
            offset = stream.offsets.get(log.name, 0)
            if log.size <= offset:
                continue
            try:
                with open(log.path, "rb") as file:
                    file.seek(offset)
                    data = file.read(min(log.size - offset, _READ_BYTES))
            except OSError:
                continue
            stream.offsets[log.name] = offset + len(data)
            # A rollover may split a line; the pending part joins the next file's first bytes.
            data = stream.pending + data
            cut = data.rfind(b"\n") + 1
            stream.pending = data[cut:]
            stream.pending_since = now
            out += [_prefix(log) + _decode(line) for line in data[:cut].split(b"\n")[:-1]]
        for stream in self._streams.values():
            if stream.pending and now - stream.pending_since >= _PARTIAL_SECONDS:
                out.append(_prefix(stream.log) + _decode(stream.pending))
                stream.pending = b""
        return out


def _mtime(log: LogFile) -> tuple[float, int]:
    try:
        return os.stat(log.path).st_mtime, log.sequence
    except OSError:
        return 0.0, log.sequence


def app_log_lines(log_dir: Path, app: str, *, stderr_only: bool, last: int, follow: bool) -> Iterator[str]:
    """Merged worker logs of `app`, one line per item, prefixed "[<slot> <stream>] ": the last `last` lines,
    then (follow) new lines as they are written, until KeyboardInterrupt. Raises FileNotFoundError naming
    the folder when the app has no log folder."""
    directory = Path(log_dir) / app
    if not directory.is_dir():
        raise FileNotFoundError(f"no logs for app {app!r}: {directory} does not exist")
    follower = LogFollower(directory, stderr_only)
    try:
        yield from follower.last_lines(last)
        while follow:
            lines = follower.poll()
            yield from lines
            if not lines:
                time.sleep(POLL_SECONDS)
    except KeyboardInterrupt:
        return
