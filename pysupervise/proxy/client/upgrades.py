"""What a client connection does between an upgrade request (websockets) and its tunnel."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pysupervise.proxy.client.deadlines import NO_DEADLINE

if TYPE_CHECKING:
    import asyncio

    from pysupervise.config import ProxySettings
    from pysupervise.proxy.exchange import Exchange
    from pysupervise.proxy.request import ProxyRequest

# Bytes a client may send after an upgrade request before the worker has answered it.
_EARLY_TUNNEL_BYTES = 64 * 1024


class UpgradingConnection:
    """The upgrade half of ClientConnection: bytes sent early are held for the tunnel, which then takes over."""

    __slots__ = ()

    settings: "ProxySettings"
    transport: "asyncio.Transport | None"
    pending: "list[ProxyRequest]"
    active: "Exchange | None"
    tunnel: "Exchange | None"
    deadline_kind: int

    def _hold_early_tunnel_bytes(self, data: bytes) -> None:
        if not data:
            return
        last = self.pending[-1] if self.pending else None
        target = self.active.request if last is None and self.active is not None else last
        if target is None:
            return
        target.tunnel_prefix += data
        if len(target.tunnel_prefix) > _EARLY_TUNNEL_BYTES:
            self.pause_reading(True)  # type: ignore[attr-defined]

    def start_tunnel(self, exchange: Exchange) -> None:
        self.tunnel = exchange
        # Tunnels are not read ahead: the socket's own buffer is all the worker may get ahead by.
        self.transport.set_write_buffer_limits(high=self.settings.response_buffer_max)
        self.deadline_kind = NO_DEADLINE
        early = exchange.request.tunnel_prefix
        if early:
            exchange.request.tunnel_prefix = b""
            exchange.tunnel_from_client(early)
        self.pause_reading(False)  # type: ignore[attr-defined]
