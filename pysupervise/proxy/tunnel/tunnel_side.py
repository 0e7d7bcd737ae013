"""The tunnel half of an Exchange: after a worker's 101 (a websocket), both sides are a byte tunnel holding the slot."""

from __future__ import annotations

from pysupervise.proxy.tunnel.websocket_close import GOING_AWAY, FrameBoundary, close_frame


class TunnelSide:
    """Mixed into Exchange, whose state it uses: client, upstream, endpoint, request, finished, bytes_out, tunnel,
    _frames (the websocket frame boundary, to close between frames) and _closing_tunnel (the close code)."""

    __slots__ = ()

    def upgraded(self, early_upstream_bytes: bytes) -> None:
        """The worker answered 101: from now on both sides are a byte tunnel holding this slot."""
        self.tunnel = True
        if self.request.is_websocket:
            self._frames = FrameBoundary()
        if self.endpoint is not None:
            self.endpoint.tunnels.add(self)
        self.client.start_tunnel(self)
        if self.client.write_paused:
            self.upstream.transport.pause_reading()  # a tunnel is never buffered: the worker waits for the client
        if early_upstream_bytes:
            self.tunnel_from_upstream(early_upstream_bytes)

    def tunnel_from_upstream(self, data: bytes) -> None:
        self.bytes_out += len(data)
        self.client.write(data)
        frames = self._frames
        if frames is not None:
            frames.feed(data)
            if self._closing_tunnel and frames.at_boundary:
                self._end_tunnel()

    def close_tunnel(self, code: int = GOING_AWAY) -> None:
        """End the tunnel now, or at the next frame boundary (within a second) for a websocket, closing with `code`."""
        if self.finished or self._closing_tunnel:
            return
        self._closing_tunnel = code
        if self._frames is None or self._frames.at_boundary:
            self._end_tunnel()
        else:
            self.client.loop.call_later(1.0, self._end_tunnel)

    def _end_tunnel(self) -> None:
        if self.finished:
            return
        frames = self._frames
        if frames is not None and frames.at_boundary:
            self.client.write(close_frame(self._closing_tunnel or GOING_AWAY))
        conn, self.upstream = self.upstream, None
        if conn is not None:
            conn.unbind()
            conn.close()
        self.client.close()
        self._done()

    def tunnel_from_client(self, data: bytes) -> None:
        if self.upstream is not None:
            self.upstream.transport.write(data)
