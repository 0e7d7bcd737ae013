"""One static request answered from a file: its head, and its body (over 256 KiB with sendfile())."""

from __future__ import annotations

import errno
import logging
import os
from typing import TYPE_CHECKING

from pysupervise.proxy.response_head import client_response_head
from pysupervise.proxy.static.validators import byte_range, conditional_headers, not_modified, range_applies

if TYPE_CHECKING:
    import asyncio

    from pysupervise.proxy.client import ClientConnection
    from pysupervise.proxy.request import ProxyRequest
    from pysupervise.proxy.static.site import StaticSite

# Files up to this size go out with their head in one write. Larger ones go out with sendfile(): the kernel
# copies from the page cache to the socket, and the master never reads them (uvloop has no loop.sendfile).
_SMALL_FILE = 256 * 1024
# What one sendfile() hand-off to a FileWork thread sends at most before the loop hears of it.
_SEND_BUDGET = 8 * 1024 * 1024
# Why a static response was cut off after its head (AppBackend.truncated, and its rate-limited master-log line).
_FILE_CHANGED = "static-file-changed"
_FILE_UNREADABLE = "static-file-unreadable"
# The file ended before its Content-Length: it was truncated or rewritten in place while being sent.
_BECAME_SHORTER = "became shorter while it was being sent"
# What sendfile() answers when the client is gone (its transport has not seen it yet): not the file's fault.
_CLIENT_GONE = frozenset({errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.ESHUTDOWN})


def _read_up_to(fd: int, length: int, offset: int) -> bytes:
    """`length` bytes from `offset`, fewer only where the file ends. A read cut short by a bad sector is short, and
    only reading on tells it (OSError) from a file that is shorter than its stat said."""
    pieces = []
    while length > 0:
        piece = os.pread(fd, length, offset)
        if not piece:
            break
        pieces.append(piece)
        length -= len(piece)
        offset += len(piece)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _open_and_read(site: "StaticSite", url: bytes, reads: bool) -> tuple | None:
    """In a FileWork thread: (descriptor, real path, stat, the whole file if it is small and `reads`, or None, the
    OSError that reading it raised, or None); None when the URL names no file to serve; OSError when the disk or
    the system fails to open it."""
    opened = site.open_file(url)
    if opened is None:
        return None
    fd, path, info = opened
    if not reads or not 0 < info.st_size <= _SMALL_FILE:
        return fd, path, info, None, None
    try:
        return -1, path, info, _read_up_to(fd, info.st_size, 0), None  # read whole: closed here, one hand-off
    except OSError as exc:
        return -1, path, info, None, exc
    finally:
        os.close(fd)


def _send_some(sock: int, fd: int, offset: int, count: int) -> tuple[int, OSError | None]:
    """In a FileWork thread: sendfile() until the socket is full (BlockingIOError), the body is sent, the file
    ends early, or a few MiB went (so a fast client does not keep a thread): (bytes sent, the error that stopped
    it or None)."""
    sent = 0
    budget = min(count, _SEND_BUDGET)
    while sent < budget:
        try:
            done = os.sendfile(sock, fd, offset + sent, count - sent)
        except OSError as exc:
            return sent, exc
        if done == 0:
            break
        sent += done
    return sent, None



class StaticTransfer:
    """Answers one request from a file; speaks the same callbacks as an Exchange to the client."""

    __slots__ = ("client", "request", "site", "backend", "status", "bytes_out", "close_after", "finished",
                 "tunnel", "upstream", "last_endpoint_label", "_path", "_fd", "_socket", "_watching", "_offset",
                 "_end", "_busy")

    def __init__(self, client: "ClientConnection", request: "ProxyRequest", site: "StaticSite") -> None:
        self.client = client
        self.request = request
        self.site = site
        self.backend = site.backend
        self.status = 0
        self.bytes_out = 0
        self.close_after = False
        self.finished = False
        self.tunnel = False
        self.upstream = None
        self.last_endpoint_label = "static"
        # While a large file's body is being sent: its path, its descriptor, and a descriptor of our own for the
        # client's socket, watched for room while the socket is full.
        self._path = ""
        self._fd = -1
        self._socket = -1
        self._watching = False
        self._offset = 0
        self._end = 0
        # A thread of the server's FileWork has the file's descriptors (an open, a read or a sendfile under way).
        self._busy = False

    def account(self, now: float) -> None:
        """Counted in its app's statistics and access log, as ended at `now` (ProxyServer.exchange_finished)."""
        self.backend.finished(self.status, self.bytes_out, self.request, now - self.request.started,
                              self.last_endpoint_label)

    def start(self) -> None:
        request = self.request
        if request.method not in (b"GET", b"HEAD"):
            self._fail(405, "static files answer GET and HEAD only", b"Allow: GET, HEAD\r\n")
            return
        reads = request.method == b"GET"
        if self.site.remote:
            # Opened (and a small file read) in a FileWork thread: a network filesystem may hang. _opened goes on.
            self._busy = True
            self.client.server.file_work.run(True, _open_and_read, self.site, request.url,
                                             reads).add_done_callback(self._opened)
            return
        # A local disk's are done now, as nginx does (an exception not an OSError is a bug of ours: the connection's
        # _next, which called this, drops the connection).
        try:
            opened = _open_and_read(self.site, request.url, reads)
        except OSError as exc:
            self._open_failed(exc)
            return
        self._answer_from(opened)

    def _opened(self, future: "asyncio.Future") -> None:
        self._busy = False
        if future.cancelled():
            return
        try:
            try:
                opened = future.result()
            except OSError as exc:
                if not self.finished:
                    self._open_failed(exc)
                return
            if self.finished:  # the client left meanwhile
                if opened is not None:
                    self._fd = opened[0]
                    self._close_file()
                return
            self._answer_from(opened)
        except Exception as exc:  # a bug of ours (here or in the open), called from the loop: this connection is
            self.client.internal_error(exc, "serving a static file", self.request)  # dropped, not the loop's

    def _open_failed(self, exc: OSError) -> None:
        self._unreadable(exc, exc.filename or self.request.url.decode("latin-1"))

    def _answer_from(self, opened: tuple | None) -> None:
        """_open_and_read's answer: a 404, or the file's."""
        if opened is None:
            self._fail(404, "no such file")
            return
        self._fd, self._path, info, small, read_error = opened
        try:
            self._serve(info, small, read_error)
        finally:
            if self._offset >= self._end:
                self._close_file()  # answered, or failed; a large body still being sent keeps it

    def _serve(self, info: os.stat_result, small: bytes | None, read_error: OSError | None) -> None:
        """`small`: the whole file, read with its open when it is small (else None); `read_error`: why it could not
        be."""
        request = self.request
        size = info.st_size
        etag, last_modified, content_type = self.site.file_headers(self._path, info)
        headers = [(b"Last-Modified", last_modified), (b"ETag", etag), (b"Accept-Ranges", b"bytes"),
                   (b"Date", self.site.dates.now())]
        conditions = conditional_headers(request)
        if conditions and not_modified(conditions, etag, info.st_mtime):
            self._answer(304, b"Not Modified", headers)
            return
        headers.append((b"Content-Type", content_type))
        first, last = 0, size - 1
        status, reason = 200, b"OK"
        range_spec = conditions.get(b"range")
        if range_spec is not None and range_applies(conditions, etag, info.st_mtime):
            wanted = byte_range(range_spec, size)
            if wanted is False:
                self._fail(416, "the requested range is outside the file", b"Content-Range: bytes */%d\r\n" % size)
                return
            if wanted is not None:
                first, last = wanted
                status, reason = 206, b"Partial Content"
                headers.append((b"Content-Range", b"bytes %d-%d/%d" % (first, last, size)))
        length = last - first + 1 if size else 0
        headers.append((b"Content-Length", str(length).encode()))
        head = self._head(status, reason, headers)
        if request.method == b"HEAD" or length == 0:
            self.client.write_answer(head)
            self._done()
            return
        if read_error is not None:  # nothing is sent yet: the client gets a page that says so
            self._unreadable(read_error, self._path)
            return
        if small is not None:
            body = small[first:first + length]
            self.client.write_answer(head + body)
            self.bytes_out = len(body)
            if len(body) < length:  # shorter than its stat said: what follows on the connection would be misframed
                self._offset, self._end = first + len(body), first + length
                self._cut_off(_FILE_CHANGED, _BECAME_SHORTER)
                return
            self._done()
            return
        sock = self.client.transport.get_extra_info("socket")
        if sock is None:  # closed meanwhile
            return
        # A duplicate, ours until the transfer ends: the transport closes its own descriptor when it is aborted
        # (send_timeout), before we hear of it, and a number closed under us could be a new client's by then. It
        # is also what we watch for room: uvloop refuses a watch on a transport's own descriptor.
        try:
            self._socket = os.dup(sock.fileno())
        except OSError as exc:  # out of descriptors: nothing is sent yet
            self._unreadable(exc, self._path)
            return
        self.client.write(head)
        self._offset, self._end = first, last + 1
        self._pump()

    # -- writing ------------------------------------------------------------------------------

    def _head(self, status: int, reason: bytes, headers: list) -> bytes:
        head, _framing, self.close_after = client_response_head(status, reason, headers, self.request,
                                                                self.client.must_close)
        self.status = status
        return head

    def _answer(self, status: int, reason: bytes, headers: list) -> None:
        self.client.write_answer(self._head(status, reason, headers))
        self._done()

    def _pump(self) -> None:
        """The next sendfile() of the body, in a FileWork thread (it reads the file: a hung disk must hold this
        transfer, not the loop); _sent carries on."""
        client = self.client
        if self._busy:
            return  # a sendfile is under way; its end pumps again
        if self._offset < self._end and not self.finished and not client.transport.is_closing():
            if client.out is not None:
                client.flush()  # the head, held in a batch or the cork: it leaves before the body
            if client.transport.get_write_buffer_size():
                self._wait_for_room()  # bytes of ours wait in the transport (the head): they go first
                return
            self._stop_waiting()  # the socket is writable: a watch left on would call back while the thread works
            self._busy = True
            client.server.file_work.run(self.site.remote, _send_some, self._socket, self._fd, self._offset,
                                        self._end - self._offset).add_done_callback(self._sent)
            return
        if client.transport.is_closing():
            self._stop_waiting()  # aborted (send_timeout): connection_lost, next, ends the transfer
        elif self._offset >= self._end and not self.finished:
            self._close_file()
            self._done()

    def _sent(self, future: "asyncio.Future") -> None:
        self._busy = False
        if future.cancelled():
            return
        if self.finished:  # the client left while the thread sent
            self._close_file()
            return
        try:
            sent, error = future.result()
            self.bytes_out += sent
            self._offset += sent
            if sent:
                self.client._sending_deadline(False)  # it took bytes: send_timeout counts from its next stall
            if isinstance(error, BlockingIOError):
                self._wait_for_room()
            elif error is not None and error.errno in _CLIENT_GONE:
                self.client.abort()  # its transport has not seen it yet
            elif error is not None:
                self._cut_off(_FILE_UNREADABLE, f"could not be read ({error.strerror})", error.errno)
            elif self._offset < self._end and not sent:
                self._cut_off(_FILE_CHANGED, _BECAME_SHORTER)
            else:
                self._pump()
        except Exception as exc:  # a bug of ours, called from the loop: this connection is dropped, not the loop's
            self._stop_waiting()
            self.client.internal_error(exc, "sending a static file", self.request)

    def _wait_for_room(self) -> None:
        """Called back once the socket has room; a client that takes nothing for send_timeout is dropped, as in
        ClientConnection's own writes."""
        if not self._watching:
            self._watching = True
            self.client.loop.add_writer(self._socket, self._on_room)
        self.client._sending_deadline(True)

    def _on_room(self) -> None:
        try:
            self._pump()
        except Exception as exc:  # a bug of ours, called from the loop: this connection is dropped, not the loop's
            self._stop_waiting()
            self.client.internal_error(exc, "sending a static file", self.request)

    def _stop_waiting(self) -> None:
        if self._watching:
            self._watching = False
            self.client.loop.remove_writer(self._socket)

    def _cut_off(self, why: str, what_happened: str, error: int = 0) -> None:
        """The body cannot be finished after its head went out. The client gets what was sent, then a clean close:
        its Content-Length shows the cut, and a download can resume from there (as with a worker's response,
        Exchange._cut_off, and as nginx does); the app counts it, the master log says why."""
        self.backend.truncated[why] += 1
        self._log((why, error), f"static file {self._path} {what_happened} ({self._offset} of its {self._end} "
                                "bytes were out); the client's connection was closed")
        self.finished = True
        self._close_file()
        self.client.exchange_cut_short(self)

    def _unreadable(self, exc: OSError, path: str) -> None:
        """The disk or the system (out of descriptors) failed before anything was sent: a 500 that says so (the
        details, which are the server's, go to the master log only)."""
        self._log((_FILE_UNREADABLE, exc.errno), f"static file {path} could not be served ({exc.strerror}); "
                                                 "answered 500")
        self._fail(500, "the file could not be read")

    def _log(self, cause: tuple[str, int], message: str) -> None:
        """Rate-limited per app, cause and error (not per file: a client could name any number of them while the
        system is out of descriptors): a bad disk under load must not flood the master log."""
        self.client.server.task_errors.log.log(
            (*cause, self.backend.name), f"pysupervise: app {self.backend.name!r}: {message} "
                                      f"(request id {self.request.request_id.decode('ascii', 'replace')})",
            logging.WARNING)

    def _close_file(self) -> None:
        """The file's descriptor (closed in a thread: a network filesystem's close can hang too) and our socket's
        (after the watch ends: epoll must not watch a closed one). Not while a thread has them: its end calls this
        again."""
        self._stop_waiting()
        if self._busy:
            return
        if self._fd >= 0:
            self.client.server.file_work.run(self.site.remote, os.close, self._fd)
        if self._socket >= 0:
            os.close(self._socket)
        self._fd = self._socket = -1

    def client_write_paused(self, paused: bool) -> None:
        if not paused:
            self._pump()

    def client_lost(self) -> None:
        self.finished = True
        self._close_file()

    def upstream_timed_out(self) -> None:
        """Static transfers never wait for a worker."""

    def _fail(self, status: int, reason: str, extra: bytes = b"") -> None:
        self.finished = True
        self.client.exchange_failed(self, status, reason, "", retry_after=False, extra_headers=extra)

    def _done(self) -> None:
        self.finished = True
        self.client.exchange_done(self)
