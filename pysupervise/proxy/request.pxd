# Typed attributes for the compiled build (setup.py); the same names as ProxyRequest.__slots__ in request.py.
cimport cython


cdef class ProxyRequest:
    cdef public object method, url, headers, host, connection_tokens, upgrade, expect, xff, xfp, xfh, scheme
    cdef public object forwarded_host, request_id, accept, cookies, body, client_ip, tunnel_prefix, target
    cdef public object mount_header, rejection, declared_length, underscored
    cdef public bint has_body, keep_alive, wants_upgrade, debug_header, routing_held, proxy_connection
    cdef public long http_minor, held_cost
    cdef public double started

    @cython.locals(parts=list)
    cpdef upstream_head(self)
