# C types for the compiled build (setup.py): the response head is rewritten once per response.
cimport cython

from pysupervise.proxy.request cimport ProxyRequest as TypedRequest


@cython.locals(parts=list, name=bytes, value=bytes, lowered=bytes, close=bint, status_line=bytes)
cpdef tuple client_response_head(long status, reason, list headers, TypedRequest request, bint must_close,
                                 bytes extra=*)


@cython.locals(end=Py_ssize_t, at=Py_ssize_t, status=long, digit=long, byte=long, length=cython.longlong, head_end=Py_ssize_t,
               name_start=Py_ssize_t, name_length=Py_ssize_t, name=bytes, counted=bint, value_start=Py_ssize_t,
               value_end=Py_ssize_t, digit_at=Py_ssize_t)
cpdef Py_ssize_t passable_head(bytes data)

@cython.locals(at=Py_ssize_t)
cdef bint _is_named(bytes data, Py_ssize_t start, bytes lowered)

cdef bytes _TOKEN, _HTTP11, _CONTENT_LENGTH, _REWRITTEN_LENGTHS
cdef tuple _REWRITTEN
cdef Py_ssize_t _LENGTH_DIGITS_MAX
