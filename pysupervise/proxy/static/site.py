"""An app's static folder: which file a URL names, opened safely (never outside the folder), and read."""

from __future__ import annotations

import errno
import mimetypes
import os
import stat
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING

from pysupervise.proxy.static.transfer import StaticTransfer
from pysupervise.proxy.static.validators import DateHeader, http_date

if TYPE_CHECKING:
    from pysupervise.proxy.backend import AppBackend
    from pysupervise.proxy.client import ClientConnection
    from pysupervise.proxy.request import ProxyRequest

# Filesystems whose files may hang for as long as a server or a network does (and "fuse" or "fuse.*": sshfs, s3fs).
NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "ceph", "glusterfs", "9p", "afs", "lustre",
                                 "gpfs", "ncpfs", "coda", "davfs"})
# What open() answers for a URL that names no file the folder may serve (a 404); any other error is the disk's or
# the system's (EIO, EMFILE...): a 500, logged.
_NOT_THERE = frozenset({errno.ENOENT, errno.ENOTDIR, errno.ENAMETOOLONG, errno.ELOOP, errno.EACCES, errno.EPERM})
# Names remembered with where their file really is (StaticSite.real_path), and files with their headers
# (file_headers), past this many forgotten all at once; and the most file-name suffixes given a Content-Type of
# their own (content_type).
_REMEMBERED_MAX = 4096


class StaticSite:
    """One URL prefix → folder mapping; a route target like an AppBackend."""

    __slots__ = ("prefix", "folder", "backend", "remote", "dates", "_inside", "_real_paths", "_content_types",
                 "_file_headers")

    def __init__(self, prefix: str, folder: Path, backend: "AppBackend") -> None:
        self.prefix = prefix.encode()
        self.folder = str(folder.resolve())
        self._inside = self.folder + os.sep  # what the real path of a file it serves starts with
        self.backend = backend  # the app it belongs to: its access log and status counters
        # On a network filesystem its files are opened and sent in threads (file_work.py): such a mount can hang.
        kind = filesystem_type(self.folder)
        self.remote = kind in NETWORK_FILESYSTEMS or kind.startswith("fuse")
        self.dates = DateHeader()
        # A name's (inode, device, real path) once its file was opened; and a Content-Type per file-name suffix.
        self._real_paths: dict[str, tuple[int, int, str]] = {}
        self._content_types: dict[str, bytes] = {}
        # A file's real path -> (mtime in ns, size, (ETag, Last-Modified, Content-Type)) as last served.
        self._file_headers: dict[str, tuple[int, int, tuple[bytes, bytes, bytes]]] = {}

    def new_exchange(self, client: "ClientConnection", request: "ProxyRequest") -> "StaticTransfer":
        return StaticTransfer(client, request, self)

    def open_file(self, url: bytes) -> tuple[int, str, os.stat_result] | None:
        """The open file for a URL (descriptor, real path, stat), or None for anything outside the folder,
        hidden, or not a regular file. The check is made on the file opened, not on its name before the open:
        a symlink swapped in between (pointing out of the folder) cannot slip through. Raises OSError when the
        disk or the system fails (EIO, EMFILE): that is not a missing file."""
        raw_path = url.split(b"?", 1)[0][len(self.prefix):]
        try:
            path = (urllib.parse.unquote_to_bytes(raw_path) if b"%" in raw_path else raw_path).decode("utf-8")
        except UnicodeDecodeError:
            return None
        # "..", dotfiles and encoded variants of both: a name in it that starts with a dot.
        if path.startswith(".") or "/." in path or "\0" in path or "\\" in path:
            return None
        parts = [p for p in path.split("/") if p]
        candidate = self._inside + os.sep.join(parts) if parts else self.folder
        fd = _open_or_none(candidate)  # O_NONBLOCK: a FIFO in the folder must not hang the loop
        if fd is None:
            return None
        try:
            info = os.fstat(fd)
            if stat.S_ISDIR(info.st_mode):
                index = _open_or_none("index.html", dir_fd=fd)
                os.close(fd)
                if index is None:
                    return None
                fd, candidate, info = index, os.path.join(candidate, "index.html"), os.fstat(index)
            real = self.real_path(fd, candidate, info)
            if stat.S_ISREG(info.st_mode) and real.startswith(self._inside):
                return fd, real, info
        except OSError:
            os.close(fd)
            raise
        os.close(fd)  # not a regular file, or one outside the folder (a symlink pointing out)
        return None

    def real_path(self, fd: int, name: str, info: os.stat_result) -> str:
        """Where the file open as `fd` (opened by `name`) really is. /proc/self/fd says, in a fifth of a small file's
        time, so it is asked once per name and file: a name that leads to another file since (a symlink swapped to
        point out of the folder) is asked again. A name that opens the very file it did (inode and device) is taken
        to be where it was; only that file moved out of the folder, with a link left in its place, would pass, and
        whoever can do that can read the file already."""
        known = self._real_paths.get(name)
        if known is not None and known[0] == info.st_ino and known[1] == info.st_dev:
            return known[2]
        real = _opened_path(fd, name)
        if len(self._real_paths) >= _REMEMBERED_MAX:
            self._real_paths.clear()
        self._real_paths[name] = (info.st_ino, info.st_dev, real)
        return real

    def file_headers(self, path: str, info: os.stat_result) -> tuple[bytes, bytes, bytes]:
        """(ETag, Last-Modified, Content-Type) of the file at real path `path` as `info` found it: made once per
        version of a file (they follow from its path, mtime and size), not per request."""
        known = self._file_headers.get(path)
        if known is not None and known[0] == info.st_mtime_ns and known[1] == info.st_size:
            return known[2]
        made = (b'"%x-%x"' % (info.st_mtime_ns, info.st_size), http_date(info.st_mtime), self.content_type(path))
        if len(self._file_headers) >= _REMEMBERED_MAX:
            self._file_headers.clear()
        self._file_headers[path] = (info.st_mtime_ns, info.st_size, made)
        return made

    def content_type(self, path: str) -> bytes:
        """The Content-Type for a file, from its name's suffixes (text gets a charset), made once per suffix."""
        name = path[path.rfind("/") + 1:]
        suffixes = name[name.find("."):] if "." in name else ""
        known = self._content_types.get(suffixes)
        if known is not None:
            return known
        content_type = mimetypes.guess_type("/file" + suffixes)[0] or "application/octet-stream"  # as its path
        if content_type.startswith("text/") or content_type in ("application/javascript", "application/json"):
            content_type += "; charset=utf-8"
        made = content_type.encode()
        if len(self._content_types) < _REMEMBERED_MAX:
            self._content_types[suffixes] = made
        return made


_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC


def _open_or_none(path: str, dir_fd: int | None = None) -> int | None:
    try:
        return os.open(path, _OPEN_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in _NOT_THERE:
            return None
        raise


def filesystem_type(path: str, mountinfo: str = "/proc/self/mountinfo") -> str:
    """The type of the filesystem `path` is on ("" when unknown): of the deepest mount point above it."""
    try:
        with open(mountinfo, encoding="utf-8", errors="replace") as lines:
            mounts = [line.split() for line in lines]
    except OSError:
        return ""
    best, kind = "", ""
    for fields in mounts:
        if "-" not in fields:
            continue
        point = fields[4].replace("\\040", " ")
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fields[fields.index("-") + 1]
    return kind


def _opened_path(fd: int, name: str) -> str:
    """Where the open file really is (Linux: /proc/self/fd); elsewhere, the name resolved now."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(name)
