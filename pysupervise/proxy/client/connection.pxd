# The compiled build (setup.py): ClientConnection's attributes are ConnectionState's (state.pxd); its halves
# BatchedWrites and ConnectionDeadlines are extension types below it, the other mixins plain classes.
from pysupervise.proxy.client.deadlines cimport ConnectionDeadlines


cdef class ClientConnection(ConnectionDeadlines):
    cpdef _next(self)
    cpdef exchange_done(self, exchange)
