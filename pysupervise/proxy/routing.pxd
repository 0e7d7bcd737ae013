# Typed attributes for the compiled build (setup.py); the same names as the __slots__ in routing.py. Every request
# passes through HealthRoute.match, AdminRoutes.match and RouteTable.lookup: ProxyServer.route calls them in C.
cimport cython

from pysupervise.proxy.request cimport ProxyRequest as TypedRequest


cdef class RouteTable:
    cdef public tuple _entries, _routes

    @cython.locals(host_name=bytes, prefix=bytes, length=Py_ssize_t, found=tuple)
    cpdef lookup(self, bytes host, bytes path)


cdef class AdminRoutes:
    cdef public object rule, target, _token
    cdef public bytes _cookie
    cdef public dict _first_segments
    cdef public bint _everything
    cdef public tuple _prefixes

    cpdef match(self, TypedRequest request)
    cpdef bint admits(self, TypedRequest request)

    @cython.locals(size=Py_ssize_t, end=Py_ssize_t, prefixes=tuple, prefix=bytes, length=Py_ssize_t)
    cpdef bint _covers(self, bytes url)


cdef class HealthRoute:
    cdef public bytes path
    cdef public object source, backend
    cdef public tuple _allow
    cdef public bint _everyone

    @cython.locals(url=bytes, length=Py_ssize_t)
    cpdef match(self, TypedRequest request, AdminRoutes admin)
