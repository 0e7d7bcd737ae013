# Typed attributes for the compiled build (setup.py); the same names as ExchangeState.__slots__ in exchange.py.
# Not UpstreamConnection: upstream.pxd cimports Exchange, and a cycle of cimports is a cycle of imports.
from pysupervise.proxy.client.connection cimport ClientConnection as TypedClient
from pysupervise.proxy.backend cimport AppBackend as TypedBackend
from pysupervise.proxy.endpoint cimport Endpoint as TypedEndpoint
from pysupervise.proxy.request cimport ProxyRequest as TypedRequest


cdef class ExchangeState:
    cdef public TypedClient client
    cdef public TypedRequest request
    cdef public TypedEndpoint endpoint, _awaiting
    cdef public TypedBackend backend
    cdef public object upstream, framing, _head, last_endpoint_label
    cdef public object sticky_slot, _frames, _out
    cdef public bint finished, interim, close_after, tunnel, is_debug, _draining, resent, cut_short
    cdef public long status, connect_attempts, bytes_out, _closing_tunnel, _held


cdef class Exchange(ExchangeState):
    cpdef double now(self)
    cpdef start(self, avoid=*)
    cpdef assigned(self, TypedEndpoint endpoint)
    cpdef _answered(self, bint answered=*, bint timed_out=*)
    cpdef _drop_out(self)
    cpdef _close_body(self)
    cpdef _send(self, conn)
    cpdef response_head(self, status, reason, headers, upstream_keep_alive)
    cpdef bint pass_response(self, long status, bytes data, Py_ssize_t head_end)
    cpdef bytes _extra_lines(self)
    cpdef response_body(self, data)
    cpdef response_complete(self, conn, keep_alive)
    cpdef _forward(self, data, chunk=*)
    cpdef _release_slot(self)
    cpdef _done(self, drain=*)
    cpdef _release_hold(self)
    cpdef _client_done(self)
    cpdef account(self, double now)
