# The compiled build (setup.py): ConnectionDeadlines is an extension type on BatchedWrites (see writes.pxd).
from pysupervise.proxy.client.writes cimport BatchedWrites


cdef class ConnectionDeadlines(BatchedWrites):
    cpdef _set_deadline(self, long kind, double seconds)
    cpdef _wait_idle(self, long kind, double seconds)
    cpdef _reading_deadline(self, long kind, double seconds)
    cpdef expect_response_by(self, double when)
    cpdef response_started(self, bint watch_worker)
    cpdef worker_sent(self)
    cpdef watch_worker(self, double seconds)
    cpdef worker_took_request(self, double seconds)
    cpdef worker_finished(self)
    cpdef _sending_deadline(self, bint paused)
