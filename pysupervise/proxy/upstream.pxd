# Typed attributes for the compiled build (setup.py); the same names as UpstreamConnection.__slots__.
from pysupervise.proxy.exchange cimport Exchange as TypedExchange


cdef class UpstreamConnection:
    cdef public TypedExchange exchange
    cdef public object endpoint, transport, parser, _reason, _headers
    cdef public bint usable, no_body, tunnel, _reset_parser, _got_bytes, _keep_alive
    cdef public double idle_since
    cdef public long _bound, _head_bytes

    cpdef bind(self, exchange, no_body)
    cpdef unbind(self)
