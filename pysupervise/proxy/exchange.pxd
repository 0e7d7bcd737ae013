# Typed attributes for the compiled build (setup.py); the same names as ExchangeState.__slots__ in exchange.py.
cdef class ExchangeState:
    cdef public object client, request, backend, endpoint, upstream, framing, _head, last_endpoint_label
    cdef public object sticky_slot, _awaiting, _frames, _out
    cdef public bint finished, interim, close_after, tunnel, is_debug, _draining
    cdef public long status, connect_attempts, bytes_out, _closing_tunnel


cdef class Exchange(ExchangeState):
    pass
