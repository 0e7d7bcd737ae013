"""A client connection's writes: straight to the transport, collected while a batch is open, or held to the end of
the loop's pass (client/cork.py)."""

from __future__ import annotations

from pysupervise.proxy.body import JOIN_MAX
from pysupervise.proxy.client.cork import CORK_MAX
from pysupervise.proxy.client.state import ConnectionState


class BatchedWrites(ConnectionState):
    """The writing half of ClientConnection: a response head and body read together leave in one send(), and a
    small one is held to the end of the loop's pass (client/cork.py)."""

    __slots__ = ()

    def write(self, data: bytes) -> None:
        out = self.out
        if self.batching:
            if out is None:
                self.out = [data]
            else:
                out.append(data)
        elif out is None:
            self.transport.write(data)
        else:
            out.append(data)  # behind what is held, in one send with it
            self.flush()

    def write_answer(self, data: bytes) -> None:
        """A whole answer the proxy made itself (a static file's, the health page's): held to the end of the loop's
        pass with the others of the pass, as a worker's answer read whole is (end_batch), unless it is large."""
        self.batching += 1
        self.write(data)
        self.end_batch()

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
        out = self.out
        if self.batching or not out:
            return
        size = 0
        for piece in out:
            size += len(piece)
        if size > CORK_MAX:
            self.flush()  # the transport's flow control must see a large write now (pause_writing)
        elif not self.corked:
            self.corked = True
            self.cork.hold_client(self)

    def drop_batch_tail(self, size: int) -> bool:
        """Take back the last `size` bytes written in the open batch, if all of them are still held here (none has
        left in a flush since); False, and nothing taken back, if any has."""
        out = self.out
        if out is None:
            return False
        held = 0
        index = len(out)
        while index and held < size:
            index -= 1
            held += len(out[index])
        if held != size:
            return False
        del out[index:]
        if not out:
            self.out = None
        return True

    def flush(self) -> None:
        self.corked = False  # called early (a large write, a close), the cork's own call later finds nothing
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
