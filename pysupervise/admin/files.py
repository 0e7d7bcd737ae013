"""Which files of an app's log folder the admin may serve, resolved so that nothing outside it can be reached."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from pysupervise.admin.view import SiteView
from pysupervise.logs.app_logs import AppLogs, LogFile

SIDE_FILES = ("events.log", "access.log")
# Every name we serve matches this; anything with a slash, a leading dot or ".." is refused before the disk.
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$")


@dataclass(frozen=True)
class ShownFile:
    """A file the admin may show: a worker stream file (with its index entry) or events.log / access.log."""

    app: str
    name: str
    path: Path
    log: LogFile | None  # None for events.log and access.log


@dataclass(frozen=True)
class TextSlice:
    """Part of a file decoded for display: the bytes [start, end) of a file of `size` bytes."""

    text: str
    start: int
    end: int
    size: int

    @property
    def truncated(self) -> bool:
        return self.start > 0


def app_logs(site: SiteView, app: str) -> AppLogs | None:
    """The app's AppLogs, or None when `app` is not a configured app (its page is then a 404)."""
    if app not in site.app_names():
        return None
    return site.logs(app)


def resolve(site: SiteView, app: str, name: str) -> ShownFile | None:
    """The file `name` of `app` if the admin may serve it: listed in the app's index (or a side file),
    a regular file (not a symlink) directly inside the app's log folder. Otherwise None (404)."""
    logs = app_logs(site, app)
    if logs is None or not _SAFE_NAME.fullmatch(name):
        return None
    log = logs.find(name)
    if log is None and name not in SIDE_FILES:
        return None
    folder = site.log_dir(app)
    path = folder / name
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        if Path(os.path.realpath(path)).parent != Path(os.path.realpath(folder)):
            return None
    except OSError:
        return None
    return ShownFile(app, name, path, log)


def open_regular(path: Path) -> int:
    """An fd for a regular file, refusing symlinks at open time too (raises OSError)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(f"{path} is not a regular file")
    return fd


def read_tail_text(path: Path, max_bytes: int) -> TextSlice:
    """The file's last `max_bytes` (all of it when smaller), starting at a line boundary when cut."""
    fd = open_regular(path)
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - max_bytes)
        data = os.pread(fd, size - start, start)
    finally:
        os.close(fd)
    end = start + len(data)
    if start > 0:
        newline = data.find(b"\n")
        if 0 <= newline < len(data) - 1:
            start += newline + 1
            data = data[newline + 1:]
    return TextSlice(data.decode("utf-8", "replace"), start, end, size)
