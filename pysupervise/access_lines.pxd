# C types for the compiled build (setup.py): a flush writes its access lines a byte at a time, as C stores.
cimport cython


@cython.locals(out=bytearray, at=Py_ssize_t, second=cython.longlong, stamp=bytes, client=bytes, label=bytes,
               room=Py_ssize_t, now=double, status=cython.longlong, body_bytes=cython.longlong, seconds=double,
               method=bytes, url=bytes, request_id=bytes)
cpdef bytes _formatted(list records, bint escape)

@cython.locals(index=Py_ssize_t)
cdef Py_ssize_t _put(bytearray out, Py_ssize_t at, bytes piece, long after) except -1

cdef Py_ssize_t _end(bytearray out, Py_ssize_t at, long after) except -1

@cython.locals(end=Py_ssize_t, rest=cython.longlong, index=Py_ssize_t)
cdef Py_ssize_t _put_number(bytearray out, Py_ssize_t at, cython.longlong number, long after) except -1

@cython.locals(scaled=double, whole=cython.longlong, left=double, fraction=cython.longlong, index=Py_ssize_t)
cdef Py_ssize_t _put_seconds(bytearray out, Py_ssize_t at, double seconds, long after) except -1

cdef Py_ssize_t _LINE_GUESS, _NUMBERS_ROOM
cdef cython.longlong _DIGITS_MAX
cdef double _SECONDS_MAX, _HALF_LOW, _HALF_HIGH
cdef long _SPACE, _NEWLINE, _DOT, _ZERO, _NOTHING
cdef tuple _MILLISECONDS
