# Typed attributes for the compiled build (setup.py); the same names as Dispatcher.__slots__ in dispatcher.py.
cimport cython

from pysupervise.proxy.endpoint cimport Endpoint as TypedEndpoint
from pysupervise.proxy.request cimport ProxyRequest as TypedRequest


cdef class Dispatcher:
    cdef public object app_name, endpoints, queue, stats, _unavailable, on_change
    cdef public long queue_limit, _rotor, queued_elsewhere, front_index, front_count, picks
    cdef public double queue_timeout, away, _away_credit, stuck_after

    @cython.locals(endpoint=TypedEndpoint)
    cpdef acquire(self, exchange, avoid=*, prefer_slot=*)

    @cython.locals(request=TypedRequest)
    cpdef _choose(self, exchange, avoid)

    @cython.locals(ep=TypedEndpoint, home_ep=TypedEndpoint, away_ep=TypedEndpoint, count=long, start=long, i=long,
                   in_flight=long, load=long, home_load=long, away_load=long, front_count=long, front_index=long)
    cpdef _pick(self, avoid, bint near=*, double now=*)

    cpdef bint _stuck(self, TypedEndpoint endpoint, double now)

    cpdef _avoided(self, avoid)

    cpdef release(self, TypedEndpoint endpoint)
