"""The headers of a static request that depend on the file: conditional requests (304) and one byte range (206)."""

from __future__ import annotations

import email.utils
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pysupervise.proxy.request import ProxyRequest

_WEEKDAYS = (b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun")
_MONTHS = (b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec")


def http_date(seconds: float) -> bytes:
    """RFC 9110's IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), as email.utils.formatdate(usegmt=True) writes it,
    in a fraction of its time (it builds a datetime): each static answer has two."""
    t = time.gmtime(seconds)
    return b"%s, %02d %s %04d %02d:%02d:%02d GMT" % (_WEEKDAYS[t.tm_wday], t.tm_mday, _MONTHS[t.tm_mon - 1],
                                                      t.tm_year, t.tm_hour, t.tm_min, t.tm_sec)


class DateHeader:
    """The Date header's value, made once a second."""

    __slots__ = ("_second", "_value")

    def __init__(self) -> None:
        self._second = -1
        self._value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self._second:
            self._second, self._value = second, http_date(second)
        return self._value


# The request headers a static answer depends on; most requests have none of them (and no name of their lengths).
_CONDITIONAL = frozenset({b"if-none-match", b"if-modified-since", b"range", b"if-range"})
_CONDITIONAL_LENGTHS = frozenset(len(name) for name in _CONDITIONAL)
_NONE_FOUND: dict[bytes, bytes] = {}
_IF_NONE_MATCH = b"if-none-match"


def conditional_headers(request: "ProxyRequest") -> dict[bytes, bytes]:
    """The request's If-None-Match, If-Modified-Since, Range and If-Range by lowercase name, found in one pass over
    its headers; an empty dict, shared and never written to, when it has none. If-None-Match is a list: lines of it
    are joined (RFC 9110 §5.3); of the others, which hold one value, the first line counts."""
    found = _NONE_FOUND
    tags: list[bytes] = []  # If-None-Match's lines, joined once (a head of 100 of them costs one copy, not 100)
    for name, value in request.headers:
        if len(name) in _CONDITIONAL_LENGTHS:
            lowered = name.lower()
            if lowered in _CONDITIONAL:
                if found is _NONE_FOUND:
                    found = {}
                if lowered == _IF_NONE_MATCH:
                    tags.append(value)
                elif lowered not in found:
                    found[lowered] = value
    if tags:
        found[_IF_NONE_MATCH] = tags[0] if len(tags) == 1 else b", ".join(tags)
    return found


def byte_range(spec: bytes, size: int) -> tuple[int, int] | None | bool:
    """(first, last) for one satisfiable range; False when unsatisfiable; None to ignore the header."""
    unit, _, ranges = spec.partition(b"=")
    if unit.strip().lower() != b"bytes" or b"," in ranges:
        return None  # several ranges: RFC 9110 lets us answer with the whole file
    first, sep, last = ranges.strip().partition(b"-")
    try:
        if not sep:
            return None
        if not first:
            length = int(last)
            return (max(size - length, 0), size - 1) if length > 0 and size else False
        start = int(first)
        end = min(int(last), size - 1) if last else size - 1
    except ValueError:
        return None
    return (start, end) if start <= end and start < size else False



def not_modified(conditions: dict[bytes, bytes], etag: bytes, mtime: float) -> bool:
    """If-None-Match or If-Modified-Since (of conditional_headers) says the client's copy is this file: a 304."""
    if_none_match = conditions.get(_IF_NONE_MATCH)
    if if_none_match is not None:
        tags = [t.strip().removeprefix(b"W/") for t in if_none_match.split(b",")]
        return b"*" in tags or etag in tags
    since = conditions.get(b"if-modified-since")
    if since is not None:
        try:
            return int(mtime) <= email.utils.parsedate_to_datetime(since.decode("latin-1")).timestamp()
        except (TypeError, ValueError):
            return False
    return False


def range_applies(conditions: dict[bytes, bytes], etag: bytes, mtime: float) -> bool:
    """No If-Range, or one that names this file: a Range header may be answered with a part of it."""
    if_range = conditions.get(b"if-range")
    if if_range is None:
        return True
    if if_range.startswith(b'"'):
        return if_range == etag
    try:
        return int(mtime) <= email.utils.parsedate_to_datetime(if_range.decode("latin-1")).timestamp()
    except (TypeError, ValueError):
        return False
