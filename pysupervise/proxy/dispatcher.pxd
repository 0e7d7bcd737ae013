# Typed attributes for the compiled build (setup.py); the same names as Dispatcher.__slots__ in dispatcher.py.
cimport cython

from pysupervise.proxy.endpoint cimport Endpoint as TypedEndpoint


cdef class Dispatcher:
    cdef public object app_name, endpoints, queue, stats, _unavailable, on_change
    cdef public long queue_limit, _rotor, queued_elsewhere
    cdef public double queue_timeout

    @cython.locals(endpoint=TypedEndpoint)
    cpdef acquire(self, exchange, avoid=*, prefer_slot=*)

    @cython.locals(ep=TypedEndpoint, best=TypedEndpoint, count=long, start=long, i=long, in_flight=long, load=long,
                   best_load=long)
    cpdef _pick(self, avoid)

    cpdef release(self, TypedEndpoint endpoint)
