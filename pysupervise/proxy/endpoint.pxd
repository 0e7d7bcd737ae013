# Typed attributes for the compiled build (setup.py); the same names as Endpoint.__slots__ in endpoint.py.
cdef class Endpoint:
    cdef public object label, socket_path, idle, diagnostics, tunnels, on_recycle, _loop, _drained, _on_retire
    cdef public object watcher, ask_diagnostics
    cdef public long slot, capacity, in_flight, served, awaiting, _overdue_pending, recycle_after, worker_slots
    cdef public long held_elsewhere, in_flight_elsewhere
    cdef public bint alive, stalled, unresponsive
    cdef public double last_progress
    cdef object __weakref__

    cpdef take_idle(self)
    cpdef give_back(self, conn)
    cpdef request_sent(self, double now)
    cpdef request_answered(self, double now, bint answered, bint timed_out=*)
    cpdef answered_one_more(self)
    cpdef slot_released(self)
