# Typed attributes for the compiled build (setup.py); the same names as ProxyServer.__slots__ in server.py.
from pysupervise.proxy.request cimport ProxyRequest as TypedRequest
from pysupervise.proxy.routing cimport AdminRoutes, HealthRoute, RouteTable

cdef class ProxyServer:
    cdef public object settings, trusted_proxies, task_errors, spill_dir, loop
    cdef public RouteTable routes
    cdef public AdminRoutes admin_routes
    cdef public HealthRoute health_route
    cdef public object worker_header, connections, parking, room, default_host, valid_hosts
    cdef public dict idle, slow_requests
    cdef public object _request_prefix, _request_counter, _sockets, _accepting, _sweeper, _room, heap_trimmer
    cdef public object buffer_budget, routing_hold, file_work
    cdef public object cork
    cdef public long port, _adopting, transports_dropped, read_ahead
    cdef public bint _waiting_for_room, _stopping

    cdef route(self, TypedRequest request)
    cpdef new_request_id(self)
    cpdef connection_opened(self, conn)
    cpdef connection_closed(self, conn)
    cpdef went_idle(self, conn)
    cpdef exchange_finished(self, exchange, conn)
