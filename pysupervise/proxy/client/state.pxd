# Typed attributes for the compiled build (setup.py); the same names as ConnectionState.__slots__ in state.py.
from pysupervise.proxy.request cimport ProxyRequest as TypedRequest
from pysupervise.proxy.server cimport ProxyServer as TypedServer


cdef class ConnectionState:
    cdef public TypedRequest request
    cdef public TypedServer server
    cdef public object cork, settings, loop, transport, parser, client_ip, active, tunnel
    cdef public list pending
    cdef public object unparsed, out, raw_target
    cdef public bint loopback, peer_trusted, must_close, reading_paused, write_paused, in_head, upgrade_pending
    cdef public bint closed, broken, is_idle, writes_done, corked
    cdef public double deadline
    cdef public long deadline_kind, head_size, header_bytes, header_count, held_cost, batching, framing_left
