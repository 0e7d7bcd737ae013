"""A client connection's writes: straight to the transport, or collected while a batch is open."""

from __future__ import annotations

from pysupervise.proxy.body import JOIN_MAX
from pysupervise.proxy.client.state import ConnectionState


class BatchedWrites(ConnectionState):
    """The writing half of ClientConnection: a response head and body read together leave in one send()."""

    __slots__ = ()

    def write(self, data: bytes) -> None:
        if not self.batching:
            self.transport.write(data)
        elif self.out is None:
            self.out = [data]
        else:
            self.out.append(data)

    def write_chunk(self, data: bytes) -> None:
        if data:
            self.write(b"%x\r\n" % len(data))
            self.write(data)
            self.write(b"\r\n")

    def begin_batch(self) -> None:
        """Collect writes until end_batch: a response head and body read together leave in one send()."""
        self.batching += 1

    def end_batch(self) -> None:
        self.batching -= 1
        if not self.batching and self.out:
            self.flush()

    def flush(self) -> None:
        out = self.out
        if out is None:
            return
        self.out = None
        if self.transport.is_closing():
            return
        if len(out) == 1:
            self.transport.write(out[0])
            return
        size = 0
        for piece in out:
            size += len(piece)
        if size <= JOIN_MAX:
            self.transport.write(b"".join(out))  # a head and a small body: one copy is cheaper than a vector
        else:
            self.transport.writelines(out)  # one writev(), without copying a large body piece behind its head
