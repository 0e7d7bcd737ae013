# C types for the compiled build (setup.py): the response head is rewritten once per response.
cimport cython

from pysupervise.proxy.request cimport ProxyRequest as TypedRequest


@cython.locals(parts=list, name=bytes, value=bytes, lowered=bytes, close=bint, status_line=bytes)
cpdef tuple client_response_head(long status, reason, list headers, TypedRequest request, bint must_close,
                                 bytes extra=*)
