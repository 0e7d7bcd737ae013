# Typed attributes for the compiled build (setup.py); the same names as WriteCork.__slots__ in cork.py.
# It cimports nothing: server.pxd cimports it, and the client's .pxd files cimport server.pxd.

cdef class WriteCork:
    cdef public object loop, errors
    cdef public list _clients, _writes, _spare_clients, _spare_writes
    cdef public bint _armed

    cpdef hold_client(self, conn)
    cpdef hold_write(self, transport, data)
    cpdef _arm(self)
    cpdef release(self)
