"""The access-log line, one per request: `time client method url status bytes seconds worker request-id`,
space-separated, escaped so that any bytes a client sends stay on one line and in their field.

Shared by the master's AccessLog (logs/access_log.py), which formats its own front's lines and writes the file,
and the other front processes (proxy/fronts/mirror.py), which format theirs and send them to the master: a
top-level module, so that neither folder imports the other. Records are AccessLog.record's tuples: (end time,
client address, method, url, status, body bytes, seconds, worker label, request id)."""

from __future__ import annotations

import re
import time
from operator import itemgetter

# Anything but visible ASCII, plus the quote and the backslash, is written as \xNN.
_NEEDS_ESCAPE = re.compile(rb'[^\x21-\x7e]|["\\]')
# The bytes written as they are; deleting them from a field leaves nothing when the field needs no escaping.
_VERBATIM = bytes(b for b in range(0x21, 0x7f) if b not in b'"\\')
# What a line holds besides its fields: 8 spaces between its 9 fields, and the newline.
_SEPARATORS_PER_LINE = 9
# A record's end time, its first field: the sort key of a flush, called per record in C.
_END_TIME = itemgetter(0)
# A line's pieces that take few values, made once: the milliseconds after its time's second, and the status.
_MILLISECONDS = tuple(b".%03dZ " % milliseconds for milliseconds in range(1000))
_STATUSES = tuple(b" %d " % status for status in range(1000))


def _safe(raw: bytes) -> bytes:
    """Bytes from the network, printable and unambiguous on one log line (a C-speed check first: a third of
    a regex search's cost on a short field)."""
    if not raw.translate(None, _VERBATIM):
        return raw
    return _NEEDS_ESCAPE.sub(_escaped, raw)


def _escaped(match: re.Match[bytes]) -> bytes:
    return b"\\x%02x" % match.group()[0]


def format_lines(records: list[tuple]) -> bytes:
    """`time client method url status bytes seconds worker request-id` lines, in the order the requests ended
    (the list is sorted in place), from AccessLog.record's tuples.

    Formatted first as they came, then checked all at once: deleting the bytes written verbatim leaves exactly
    each line's own 8 spaces and newline unless a field needs escaping, which is rare; then they are formatted
    again, field by field (a third of the cost of checking each field)."""
    if not records:
        return b""
    records.sort(key=_END_TIME)
    data = _formatted(records, escape=False)
    if len(data.translate(None, _VERBATIM)) == _SEPARATORS_PER_LINE * len(records):
        return data
    return _formatted(records, escape=True)


def merge_lines(own: bytes, others: list[bytes]) -> bytes:
    """Lines of several fronts in the order their requests ended: each line starts with its end time, fixed-width
    and UTC, so ordering the lines orders the times (a front's lines arrive up to a report late)."""
    pieces = [piece for piece in (own, *others) if piece]
    if len(pieces) == 1:
        return pieces[0]  # one front's lines: already in order
    lines = b"".join(pieces).split(b"\n")
    lines.pop()  # after the last newline
    lines.sort()
    lines.append(b"")
    return b"\n".join(lines)


def _formatted(records: list[tuple], escape: bool) -> bytes:
    """The lines as pieces of one list, joined once: a bytes format per line, parsing its format string each time,
    cost a third more (compiled, each append is inlined)."""
    out: list[bytes] = []
    second, stamp = -1, b""
    encoded = {"": b"-"}  # client addresses and worker labels, encoded once per flush
    for now, client_ip, method, url, status, body_bytes, seconds, worker, request_id in records:
        if int(now) != second:
            # Formatting a timestamp is the slowest part of a line; it changes once a second.
            second = int(now)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        if escape:
            method, url, request_id = _safe(method), _safe(url), _safe(request_id)
        client = encoded.get(client_ip)
        if client is None:
            client = encoded[client_ip] = client_ip.encode()
        label = encoded.get(worker)
        if label is None:
            label = encoded[worker] = worker.encode()
        out.append(stamp)
        out.append(_MILLISECONDS[int((now - second) * 1000)])
        out.append(client)
        out.append(b" ")
        out.append(method)
        out.append(b" ")
        out.append(url)
        out.append(_STATUSES[status] if 0 <= status < len(_STATUSES) else b" %d " % status)
        out.append(b"%d %.4f " % (body_bytes, seconds))
        out.append(label)
        out.append(b" ")
        out.append(request_id)
        out.append(b"\n")
    return b"".join(out)
