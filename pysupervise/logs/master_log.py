"""<log_dir>/pysupervise.log: what a detached master prints, each line timestamped, rotated by size, never raising
on a full disk."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

# Old files kept beside the current one: pysupervise.log.1 (newest) … pysupervise.log.<KEEP_FILES>.
KEEP_FILES = 5


class MasterLog(io.TextIOBase):
    """A text stream for sys.stdout and sys.stderr of a detached master.

    Each line starts with the local time it was written ("2026-12-04 16:22:01.123 "). The current file is
    also dup2()-ed onto `fds` (1 and 2), so output that bypasses Python (a C extension, faulthandler)
    lands in it too, without timestamps. Past `max_file_size` the file becomes `.1`, the older
    ones move up, and the one beyond `keep` is deleted; files roll over between lines, never inside one.
    A write that fails (a full disk) is dropped and counted; the next write tries again, so output
    resumes by itself once there is room.
    """

    def __init__(self, path: Path, max_file_size: int, keep: int = KEEP_FILES, fds: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.path = path
        self.max_file_size = max(max_file_size, 1)
        self.keep = keep
        self.dropped_bytes = 0
        self._fds = fds
        self._fd = -1
        # Files roll over only between lines (print() writes a line and its newline separately).
        self._at_line_start = True
        path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    # -- io.TextIOBase ----------------------------------------------------------------------------

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        if self._fd < 0:
            raise OSError(f"{self.path} is not open")
        return self._fd

    def write(self, text: str) -> int:
        if not text:
            return 0
        data = self._stamped(text).encode("utf-8", "replace")
        try:
            if self._fd < 0:
                self._open()
            if self._at_line_start:
                size = os.fstat(self._fd).st_size  # output written around Python counts as well
                # A line without its newline yet (print() sends that next) is counted with it.
                if size and size + len(data) + (not data.endswith(b"\n")) > self.max_file_size:
                    self._rotate()
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
            self._at_line_start = data.endswith(b"\n")
        except OSError:
            # Nowhere to report it: this is where reports go. Counted, and the next write tries again.
            self.dropped_bytes += len(data)
        return len(text)

    def _stamped(self, text: str) -> str:
        """`text` with the time in front of each line that starts in it."""
        now = time.time()
        seconds, milliseconds = divmod(round(now * 1000), 1000)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds)) + f".{milliseconds:03d} "
        pieces, at_line_start = [], self._at_line_start
        for piece in text.splitlines(keepends=True):
            pieces.append(stamp + piece if at_line_start else piece)
            at_line_start = piece.endswith("\n")
        return "".join(pieces)

    def flush(self) -> None:
        pass  # every write goes straight to the file

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        super().close()

    # -- files ------------------------------------------------------------------------------------

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        for fd in self._fds:
            os.dup2(self._fd, fd)

    def _rotate(self) -> None:
        name = self.path.name
        try:
            os.unlink(self.path.with_name(f"{name}.{self.keep}"))
        except FileNotFoundError:
            pass
        for number in range(self.keep - 1, 0, -1):
            try:
                os.replace(self.path.with_name(f"{name}.{number}"), self.path.with_name(f"{name}.{number + 1}"))
            except FileNotFoundError:
                pass
        if self.keep:
            os.replace(self.path, self.path.with_name(f"{name}.1"))
        else:
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = -1
        self._open()
