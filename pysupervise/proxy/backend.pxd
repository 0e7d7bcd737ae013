# Typed attributes for the compiled build (setup.py); the same names as the __slots__ in backend.py.
cimport cython

from pysupervise.proxy.dispatcher cimport Dispatcher as TypedDispatcher
from pysupervise.proxy.request cimport ProxyRequest as TypedRequest


cdef class DurationHistogram:
    cdef public object counts
    cdef public double total

    @cython.locals(index=Py_ssize_t, bound=double)
    cpdef observe(self, double seconds)


cdef class AppBackend:
    cdef public object name, status_counts, failure_detail, access_log, sticky_cookie, debug_endpoint, debug_cookie
    cdef public object truncated
    cdef public TypedDispatcher dispatcher
    cdef public DurationHistogram durations
    cdef public bint sticky, worker_header
    cdef public double upstream_timeout
    cdef public long bytes_in, bytes_out

    cpdef finished(self, long status, long bytes_out, TypedRequest request, double seconds, worker)
