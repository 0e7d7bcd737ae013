# The compiled build (setup.py): ClientConnection's attributes are ConnectionState's (state.pxd); its halves
# BatchedWrites and ConnectionDeadlines are extension types below it, the other mixins plain classes.
cimport cython

from pysupervise.proxy.client.deadlines cimport ConnectionDeadlines
from pysupervise.proxy.request cimport ProxyRequest as TypedRequest


cdef class ClientConnection(ConnectionDeadlines):
    @cython.locals(request=TypedRequest)
    cpdef _next(self)
    cpdef exchange_done(self, exchange)
