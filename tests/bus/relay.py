"""FreezableRelay: a TCP or Unix-socket relay in front of a bus server that can play a network partition.

`freeze()` is what `iptables -j DROP` both ways does to connections that are already open: every
socket stays open and nothing is closed, but no byte gets across any more. Bytes read while frozen
are thrown away, so a connection that lost some is broken for good (its byte stream has a hole);
`thaw()` resumes forwarding and closes exactly those connections, as the kernel would have timed
them out; untouched ones carry on. `cut()` closes every connection at once. New connections are
accepted while frozen (a listening socket cannot refuse them) and are just as silent.

It runs its own event loop on a thread, so sync tests (a real master) and async tests use it alike.
No root, no iptables: everything stays on loopback.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any, Coroutine, TypeVar

T = TypeVar("T")


class _Side(asyncio.Protocol):
    """One end of a relayed connection; bytes it receives go to its peer's transport."""

    def __init__(self, pair: _Pair) -> None:
        self.pair = pair
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None
        self.eof = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.pair.carry(self, data)

    def eof_received(self) -> bool:
        self.eof = True
        self.pair.ended(self)
        return True  # keep our half open: the peer decides when to close

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.pair.ended(self)

    # The peer's transport calls these on the side that feeds it, through _Pair.
    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None and not self.peer.transport.is_closing():
            self.peer.transport.resume_reading()


class _Pair:
    """A client connection and its upstream connection."""

    def __init__(self, relay: FreezableRelay) -> None:
        self.relay = relay
        self.client = _Side(self)
        self.upstream = _Side(self)
        self.client.peer, self.upstream.peer = self.upstream, self.client
        self.broken = False  # lost bytes while frozen: the stream can never be whole again
        self.closed = False
        self.pending_end: list[_Side] = []
        self.early = bytearray()

    def carry(self, side: _Side, data: bytes) -> None:
        if self.relay.frozen or self.closed:
            self.relay.dropped_bytes += len(data)
            self.broken = True
            return
        peer = side.peer
        assert peer is not None
        if peer.transport is None:
            self.early += data  # the client spoke before the upstream connect finished
        elif not peer.transport.is_closing():
            peer.transport.write(data)  # the transports' own flow control pauses the reading side

    def ended(self, side: _Side) -> None:
        if self.relay.frozen:
            self.pending_end.append(side)  # a FIN lost in the partition; delivered (or moot) at thaw
            return
        self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.relay.pairs.discard(self)
        for side in (self.client, self.upstream):
            if side.transport is not None:
                side.transport.abort()


class FreezableRelay:
    """relay = FreezableRelay(("127.0.0.1", redis_port)) or FreezableRelay(Path(broker.sock)); start() it,
    point the client at relay.address, then freeze() / thaw() / cut(); always close()."""

    def __init__(self, upstream: tuple[str, int] | Path, listen_path: Path | None = None) -> None:
        self.upstream = upstream
        self.listen_path = listen_path  # for a Unix upstream: where the relay itself listens
        self.frozen = False
        self.dropped_bytes = 0
        self.accepted = 0  # connections accepted so far: a client retrying shows here, frozen or not
        self.pairs: set[_Pair] = set()
        self.address: tuple[str, int] | Path | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="freezable-relay", daemon=True)
        self._server: asyncio.AbstractServer | None = None

    # -- control, from any thread -------------------------------------------------------------

    def start(self) -> FreezableRelay:
        self._thread.start()
        self._call(self._start())
        return self

    def freeze(self) -> None:
        self._call(self._set_frozen(True))

    def thaw(self) -> None:
        self._call(self._set_frozen(False))

    def cut(self) -> None:
        self._call(self._cut())

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    @property
    def port(self) -> int:
        assert isinstance(self.address, tuple)
        return self.address[1]

    def connection_count(self) -> int:
        return self._call(self._count())

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    # -- on the relay's loop ----------------------------------------------------------------

    async def _start(self) -> None:
        if isinstance(self.upstream, tuple):
            self._server = await self._loop.create_server(self._accepted, "127.0.0.1", 0)
            sock: socket.socket = self._server.sockets[0]
            self.address = sock.getsockname()[:2]
        else:
            assert self.listen_path is not None, "a Unix upstream needs listen_path"
            self._server = await self._loop.create_unix_server(self._accepted, str(self.listen_path))
            self.address = self.listen_path

    def _accepted(self) -> asyncio.Protocol:
        self.accepted += 1
        pair = _Pair(self)
        self.pairs.add(pair)
        self._loop.create_task(self._connect_upstream(pair))
        return pair.client

    async def _connect_upstream(self, pair: _Pair) -> None:
        try:
            if isinstance(self.upstream, tuple):
                await self._loop.create_connection(lambda: pair.upstream, *self.upstream)
            else:
                await self._loop.create_unix_connection(lambda: pair.upstream, str(self.upstream))
        except OSError:
            pair.close()  # the server is down: the client sees its connection closed, as with a refused connect
            return
        assert pair.upstream.transport is not None
        if pair.closed:
            pair.upstream.transport.abort()
            return
        if pair.early:
            pair.upstream.transport.write(bytes(pair.early))
            pair.early.clear()

    async def _set_frozen(self, frozen: bool) -> None:
        self.frozen = frozen
        if frozen:
            return
        for pair in list(self.pairs):
            if pair.broken or pair.pending_end:
                pair.close()

    async def _cut(self) -> None:
        for pair in list(self.pairs):
            pair.close()

    async def _count(self) -> int:
        return len(self.pairs)

    async def _close(self) -> None:
        await self._cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        if self.listen_path is not None:
            self.listen_path.unlink(missing_ok=True)
