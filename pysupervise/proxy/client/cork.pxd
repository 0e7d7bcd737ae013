# Typed attributes for the compiled build (setup.py); the same names as WriteCork.__slots__ in cork.py.
# Nothing cimports it: a .pxd outside proxy/client that did would import this package before server.py, which
# imports it too (a cycle), so ProxyServer.cork and ConnectionState.cork are plain objects.

cdef class WriteCork:
    cdef public object loop, errors
    cdef public list _clients, _writes, _spare_clients, _spare_writes
    cdef public bint _armed

    cpdef hold_client(self, conn)
    cpdef hold_write(self, transport, data)
    cpdef _arm(self)
    cpdef release(self)
