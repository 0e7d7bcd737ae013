"""Live tail of a log file over Server-Sent Events: byte offsets as event ids, rollovers followed."""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass

from aiohttp import web

from pysupervise.admin.ansi import ansi_to_html, strip_ansi
from pysupervise.admin.files import ShownFile, open_regular
from pysupervise.logs.app_logs import AppLogs

POLL_SECONDS = 0.2
HEARTBEAT_SECONDS = 15.0
# Bounds what one poll reads and sends, so a flooding worker cannot make one tail hog the master's loop.
_READ_BYTES = 256 * 1024
# A line without its newline is held back this many polls (a print(..., end="") in progress), then sent.
_PARTIAL_POLLS = 2
_MAX_PARTIAL = 64 * 1024


@dataclass(frozen=True)
class TailChunk:
    """New lines of `file`; `offset` is the byte offset in it right after them (the SSE event id)."""

    file: str
    offset: int
    lines: tuple[str, ...]


def _utf8_cut(data: bytes) -> int:
    """How many bytes of `data` end on a character boundary (a split multi-byte character stays pending)."""
    end = len(data)
    lead = end - 1
    while lead >= 0 and end - lead <= 3 and (data[lead] & 0xC0) == 0x80:
        lead -= 1  # back over continuation bytes to the character's first byte
    if lead < 0 or data[lead] < 0xC0:
        return end
    needed = 2 if data[lead] < 0xE0 else 3 if data[lead] < 0xF0 else 4
    return lead if end - lead < needed else end


class LogTail:
    """Reads one file from a byte offset; at its end, a worker stream file continues in its next rollover."""

    def __init__(self, logs: AppLogs, shown: ShownFile, offset: int, query: str = "") -> None:
        self._logs = logs
        self.file = shown
        self._fd = open_regular(shown.path)
        size = os.fstat(self._fd).st_size
        self._read_pos = min(max(offset, 0), size)
        self._buffer = b""
        self._stale_polls = 0
        self._query = query.casefold()

    @property
    def offset(self) -> int:
        """Bytes of the current file already sent."""
        return self._read_pos - len(self._buffer)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def poll(self) -> TailChunk | None:
        """What was appended since the last poll (one file's worth), or None when nothing was."""
        data = os.pread(self._fd, _READ_BYTES, self._read_pos)
        if data:
            self._read_pos += len(data)
            self._buffer += data
            self._stale_polls = 0
            return self._emit("lines")
        self._stale_polls += 1
        successor = self._successor()
        if successor is not None:
            chunk = self._emit("all")  # the old file is complete: its unfinished last line goes out as is
            if not self._switch(successor):
                return chunk  # purged before we got there: the next poll finds the one after it
            return chunk if chunk is not None else self.poll()
        if self._buffer and self._stale_polls >= _PARTIAL_POLLS:
            return self._emit("partial")
        return None

    def _emit(self, mode: str) -> TailChunk | None:
        """Move bytes from the buffer into a chunk: complete lines, or a stale partial line too, or everything."""
        buffer = self._buffer
        if mode == "all":
            cut = len(buffer)
        else:
            cut = buffer.rfind(b"\n") + 1
            if cut == 0 and (mode == "partial" or len(buffer) > _MAX_PARTIAL):
                cut = _utf8_cut(buffer)
        if cut == 0:
            return None
        text = buffer[:cut].decode("utf-8", "replace")
        self._buffer = buffer[cut:]
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if self._query:
            # Filtered-out lines still advance the offset, so a reconnect does not send them again.
            lines = [line for line in lines if self._query in strip_ansi(line).casefold()]
        return TailChunk(self.file.name, self.offset, tuple(lines))

    def _successor(self) -> ShownFile | None:
        """The file to continue in once this one has been read to its end, if there is one."""
        log = self.file.log
        if log is None:
            return self._reopened_side_file()
        if self._logs.is_live(log.name):
            return None  # still being written: no rollover yet
        following = self._logs.continuation(log)
        if following is None:
            return None
        return ShownFile(self.file.app, following.name, following.path, following)

    def _reopened_side_file(self) -> ShownFile | None:
        """events.log or access.log replaced (rotated by rename) or truncated: start over in the new one."""
        try:
            current = os.stat(self.file.path)
        except OSError:
            return None
        mine = os.fstat(self._fd)
        if (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev) or current.st_size < self._read_pos:
            return self.file
        return None

    def _switch(self, successor: ShownFile) -> bool:
        try:
            fd = open_regular(successor.path)
        except OSError:
            return False
        self.close()
        self._fd = fd
        self.file = successor
        self._read_pos = 0
        self._buffer = b""
        self._stale_polls = 0
        return True


class TailHub:
    """The live tails of one admin app: a cap on how many, and one signal that ends them all at shutdown."""

    def __init__(self, limit: int = 64) -> None:
        self.limit = limit
        self.count = 0
        self._closing = asyncio.Event()

    @property
    def closing(self) -> bool:
        return self._closing.is_set()

    def enter(self) -> bool:
        if self.count >= self.limit or self.closing:
            return False
        self.count += 1
        return True

    def leave(self) -> None:
        self.count -= 1

    async def pause(self, seconds: float) -> None:
        """Sleep between polls, returning early when the app shuts down."""
        try:
            await asyncio.wait_for(self._closing.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def close(self, _app: web.Application | None = None) -> None:
        """on_shutdown: ends every tail now, so stopping the master never waits for open browser tabs."""
        self._closing.set()


def sse_event(chunk: TailChunk, event_id: str) -> bytes:
    payload = {"file": chunk.file, "offset": chunk.offset, "lines": list(chunk.lines),
               "html": [ansi_to_html(line) for line in chunk.lines]}
    # JSON keeps every byte of the line on one `data:` line (a raw "\r" would split an SSE field).
    return f"id: {event_id}\ndata: {json.dumps(payload)}\n\n".encode()


async def stream_tail(request: web.Request, hub: TailHub, tail: LogTail, requested: str) -> web.StreamResponse:
    """Send `tail`'s chunks as SSE until the client leaves or the app shuts down. The event id is the byte
    offset in `requested`, or "<file>:<offset>" once the tail has moved on to a rollover of it."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-store", "X-Accel-Buffering": "no"})
    await response.prepare(request)
    loop = asyncio.get_running_loop()
    try:
        await response.write(b"retry: 1000\n\n")
        quiet_since = loop.time()
        while not hub.closing:
            chunk = tail.poll()
            if chunk is not None:
                event_id = str(chunk.offset) if chunk.file == requested else f"{chunk.file}:{chunk.offset}"
                await response.write(sse_event(chunk, event_id))
                quiet_since = loop.time()
                await asyncio.sleep(0)  # more may be waiting (a flood): read it, but let the proxy run first
                continue
            if loop.time() - quiet_since >= HEARTBEAT_SECONDS:
                await response.write(b": keep-alive\n\n")  # also how we notice a client that left
                quiet_since = loop.time()
            await hub.pause(POLL_SECONDS)
    except ConnectionError:
        pass  # the client left
    finally:
        tail.close()
    return response
