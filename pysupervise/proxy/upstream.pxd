# Typed attributes for the compiled build (setup.py); the same names as UpstreamConnection.__slots__.
cimport cython

from pysupervise.proxy.exchange cimport Exchange as TypedExchange


cdef class UpstreamConnection:
    cdef public TypedExchange exchange
    cdef public object endpoint, transport, parser, _reason, _headers
    cdef public bint usable, no_body, tunnel, _reset_parser, _got_bytes, _keep_alive, _in_body, _parser_behind
    cdef public double idle_since
    cdef public long _bound, _head_bytes
    cdef public long long _body_length, _body_seen

    @cython.locals(head_end=Py_ssize_t, status=long)
    cpdef bint _pass_whole(self, TypedExchange exchange, bytes data)
    cpdef bind(self, exchange, no_body)
    cpdef unbind(self)
