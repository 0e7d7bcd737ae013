"""A real filesystem whose disk fails: a read-only FUSE mount, served from a thread of the test process, that holds
files whose bytes past a given offset cannot be read (EIO), as a disk with bad sectors answers. Root only (mount
needs it), and /dev/fuse; the test is skipped otherwise.

It speaks the kernel's FUSE protocol (linux/fuse.h) itself, for the few operations reading a file needs, so the
tests need no libfuse: what the proxy meets is the kernel's own EIO, through open(), fstat(), pread() and
sendfile(), exactly as on a failing disk."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import select
import stat
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

# Operations (linux/fuse.h) this filesystem answers; any other gets ENOSYS, and the forgets get no answer at all.
_LOOKUP, _FORGET, _GETATTR, _OPEN, _READ, _RELEASE, _FLUSH, _INIT = 1, 2, 3, 14, 15, 18, 25, 26
_OPENDIR, _RELEASEDIR, _BATCH_FORGET = 27, 29, 42
_NO_REPLY = {_FORGET, _BATCH_FORGET}
_IN_HEADER = struct.Struct("=IIQQIIIHH")       # len, opcode, unique, nodeid, uid, gid, pid, extlen, padding
_OUT_HEADER = struct.Struct("=IiQ")            # len, error, unique
_ATTR = struct.Struct("=QQQQQQIIIIIIIIII")     # ino, size, blocks, a/m/ctime, their nsecs, mode, nlink, uid, gid,
                                               # rdev, blksize, flags
_READ_IN = struct.Struct("=QQII")              # fh, offset, size, read_flags (the rest is not needed)
_INIT_IN = struct.Struct("=IIII")              # major, minor, max_readahead, flags
_INIT_OUT = struct.Struct("=IIIIHHIIHHI28x")   # major, minor, max_readahead, flags, max_background,
                                               # congestion_threshold, max_write, time_gran, max_pages,
                                               # map_alignment, flags2, unused
_ROOT = 1
_MAX_WRITE = 128 * 1024
_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 2, 4, 2


@dataclass(frozen=True)
class FaultyFile:
    """A file of `data`; reading any byte at or past `bad_from` fails with EIO (None: it reads whole);
    `lookup_fails`: even finding it fails with EIO (its directory entry is on a bad sector); `held`: a read of it
    is answered only once the server's `release` is set, as a frozen network mount answers (the other requests
    are answered meanwhile)."""

    data: bytes
    bad_from: int | None = None
    lookup_fails: bool = False
    held: bool = False


class _FuseServer:
    """Answers the kernel's requests on an open /dev/fuse until stopped."""

    def __init__(self, device: int, files: dict[str, FaultyFile]) -> None:
        self.device = device
        self.names = {name.encode(): _ROOT + 1 + index for index, name in enumerate(files)}
        self.files = {self.names[name.encode()]: file for name, file in files.items()}
        self.stopping = threading.Event()
        self.release = threading.Event()
        self.failed_reads = 0
        self.held_reads = 0

    def serve(self) -> None:
        poller = select.poll()
        poller.register(self.device, select.POLLIN)
        while not self.stopping.is_set():
            if not poller.poll(100):
                continue
            try:
                request = os.read(self.device, _MAX_WRITE + 4096)
            except OSError as exc:
                if exc.errno in (errno.ENODEV, errno.EBADF):
                    return  # unmounted
                if exc.errno in (errno.EINTR, errno.EAGAIN, errno.ENOENT):
                    continue  # ENOENT: the request was interrupted before it was read
                raise
            _, opcode, unique, node, *_ = _IN_HEADER.unpack_from(request)
            if opcode in _NO_REPLY:
                continue
            file = self.files.get(node)
            if opcode == _READ and file is not None and file.held:
                self.held_reads += 1
                threading.Thread(target=self._reply_when_released, args=(opcode, node, unique, request),
                                 daemon=True).start()
                continue
            self._reply(opcode, node, unique, request)

    def _reply_when_released(self, opcode: int, node: int, unique: int, request: bytes) -> None:
        self.release.wait()
        self._reply(opcode, node, unique, request)

    def _reply(self, opcode: int, node: int, unique: int, request: bytes) -> None:
        error, body = self._answer(opcode, node, request[_IN_HEADER.size:])
        with contextlib.suppress(OSError):  # ENOENT: the caller was interrupted meanwhile; EBADF: unmounted
            os.write(self.device, _OUT_HEADER.pack(_OUT_HEADER.size + len(body), -error, unique) + body)

    def _answer(self, opcode: int, node: int, argument: bytes) -> tuple[int, bytes]:
        if opcode == _INIT:
            _major, _minor, max_readahead, _flags = _INIT_IN.unpack_from(argument)
            return 0, _INIT_OUT.pack(7, 31, max_readahead, 0, 16, 12, _MAX_WRITE, 1, 0, 0, 0)
        if opcode == _LOOKUP:
            found = self.names.get(argument.rstrip(b"\0")) if node == _ROOT else None
            if found is None:
                return errno.ENOENT, b""
            if self.files[found].lookup_fails:
                return errno.EIO, b""
            return 0, struct.pack("=QQQQII", found, 0, 60, 60, 0, 0) + self._attr(found)
        if opcode == _GETATTR:
            return 0, struct.pack("=QII", 60, 0, 0) + self._attr(node)
        if opcode in (_OPEN, _OPENDIR):
            return 0, struct.pack("=QII", 0, 0, 0)
        if opcode in (_RELEASE, _RELEASEDIR, _FLUSH):
            return 0, b""
        if opcode == _READ:
            return self._read(node, argument)
        return errno.ENOSYS, b""

    def _attr(self, node: int) -> bytes:
        if node == _ROOT:
            mode, size = stat.S_IFDIR | 0o755, 0
        else:
            mode, size = stat.S_IFREG | 0o644, len(self.files[node].data)
        return _ATTR.pack(node, size, (size + 511) // 512, 0, 0, 0, 0, 0, 0, mode, 1, 0, 0, 0, 4096, 0)

    def _read(self, node: int, argument: bytes) -> tuple[int, bytes]:
        _fh, offset, size, _flags = _READ_IN.unpack_from(argument)
        file = self.files.get(node)
        if file is None:
            return errno.EIO, b""
        if file.bad_from is not None and offset + size > file.bad_from:
            self.failed_reads += 1
            return errno.EIO, b""
        return 0, file.data[offset:offset + size]


@contextlib.contextmanager
def faulty_filesystem(files: dict[str, FaultyFile]) -> Iterator[tuple[Path, _FuseServer]]:
    """The mount point, with `files` in it, and its server (failed_reads counts the EIOs it answered); unmounted on
    exit, even while a process still has a file of it open."""
    if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
        pytest.skip("a FUSE mount needs root and /dev/fuse")
    libc = ctypes.CDLL(None, use_errno=True)
    mount_point = Path(tempfile.mkdtemp(prefix="ps-faulty-", dir="/tmp"))
    device = os.open("/dev/fuse", os.O_RDWR | os.O_CLOEXEC)
    options = f"fd={device},rootmode={stat.S_IFDIR:o},user_id=0,group_id=0,allow_other".encode()
    if libc.mount(b"faultyfs", str(mount_point).encode(), b"fuse", _MS_NOSUID | _MS_NODEV, options) != 0:
        reason = os.strerror(ctypes.get_errno())
        os.close(device)
        mount_point.rmdir()
        pytest.skip(f"cannot mount a FUSE filesystem: {reason}")
    server = _FuseServer(device, files)
    thread = threading.Thread(target=server.serve, name="faulty-fs", daemon=True)
    thread.start()
    try:
        yield mount_point, server
    finally:
        server.release.set()
        libc.umount2(str(mount_point).encode(), _MNT_DETACH)
        server.stopping.set()
        thread.join(10)
        os.close(device)
        mount_point.rmdir()
