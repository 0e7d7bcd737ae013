"""The headers of a static request that depend on the file: conditional requests (304) and one byte range (206)."""

from __future__ import annotations

import email.utils
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pysupervise.proxy.request import ProxyRequest


def http_date(seconds: float) -> bytes:
    return email.utils.formatdate(seconds, usegmt=True).encode()


def header(request: "ProxyRequest", name: bytes) -> bytes | None:
    return next((v for n, v in request.headers if n.lower() == name), None)


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



def not_modified(request: "ProxyRequest", etag: bytes, mtime: float) -> bool:
    """If-None-Match or If-Modified-Since says the client's copy is this file: a 304."""
    if_none_match = header(request, b"if-none-match")
    if if_none_match is not None:
        tags = [t.strip().removeprefix(b"W/") for t in if_none_match.split(b",")]
        return b"*" in tags or etag in tags
    since = header(request, b"if-modified-since")
    if since is not None:
        try:
            return int(mtime) <= email.utils.parsedate_to_datetime(since.decode("latin-1")).timestamp()
        except (TypeError, ValueError):
            return False
    return False

def range_applies(request: "ProxyRequest", etag: bytes, mtime: float) -> bool:
    """No If-Range, or one that names this file: a Range header may be answered with a part of it."""
    if_range = header(request, b"if-range")
    if if_range is None:
        return True
    if if_range.startswith(b'"'):
        return if_range == etag
    try:
        return int(mtime) <= email.utils.parsedate_to_datetime(if_range.decode("latin-1")).timestamp()
    except (TypeError, ValueError):
        return False
