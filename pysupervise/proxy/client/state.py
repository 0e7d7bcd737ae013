"""A client connection's attributes: the base of ClientConnection and of the halves it is made of."""

from __future__ import annotations


class ConnectionState:
    """ClientConnection's attributes, in a base of their own at the root of its chain of halves:
    ConnectionState → BatchedWrites → ConnectionDeadlines → ClientConnection. Compiled, each is an extension type
    (state.pxd types the attributes), so each half's methods read them, and call one another, as C."""

    __slots__ = ("server", "cork", "settings", "loop", "transport", "parser", "client_ip", "loopback", "peer_trusted",
                 "request", "pending", "active", "deadline", "deadline_kind", "must_close", "tunnel", "reading_paused",
                 "write_paused", "head_size", "header_bytes", "header_count", "held_cost", "unparsed", "in_head",
                 "upgrade_pending", "closed", "broken",
                 "batching", "out", "corked", "is_idle", "writes_done", "raw_target", "framing_left")
