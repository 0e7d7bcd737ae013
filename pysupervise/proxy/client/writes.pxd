# The compiled build (setup.py): BatchedWrites is an extension type on ConnectionState, so its methods read the
# connection's attributes as C fields and ClientConnection calls them without a lookup.
from pysupervise.proxy.client.state cimport ConnectionState


cdef class BatchedWrites(ConnectionState):
    cpdef write(self, data)
    cpdef write_answer(self, data)
    cpdef write_chunk(self, data)
    cpdef begin_batch(self)
    cpdef end_batch(self)
    cpdef flush(self)
