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
# The milliseconds after a line's second, made once.
_MILLISECONDS = tuple(b".%03dZ " % milliseconds for milliseconds in range(1000))
# The buffer a flush writes its lines into is first this many bytes per line; a line that may not fit grows it.
_LINE_GUESS = 160
# Room for a line's numbers (status, body bytes, seconds), its milliseconds and separators, whatever their values:
# each number is either written in digits (under _DIGITS_MAX, or _SECONDS_MAX) or by a bytes format (20 bytes
# for any int64, and a few more than that for a float's %.4f under 1e18).
_NUMBERS_ROOM = 128
_DIGITS_MAX = 10 ** 18
_SECONDS_MAX = 1e9
# How near half of a ten-thousandth the product seconds * 10000 must be before its rounding is left to `%.4f`: a
# double's product under 1e13 is off by less than 0.002 of one.
_HALF_LOW, _HALF_HIGH = 0.49, 0.51
_SPACE, _NEWLINE, _DOT, _ZERO = ord(" "), ord("\n"), ord("."), ord("0")
_NOTHING = -1  # no byte after a field


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
    """The lines, written a byte at a time into one buffer: compiled (access_lines.pxd), each byte is a C store,
    and a line costs a quarter of joining its pieces with a bytes format for the numbers."""
    out = bytearray(len(records) * _LINE_GUESS)
    at = 0
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
        room = _NUMBERS_ROOM + len(stamp) + len(client) + len(method) + len(url) + len(label) + len(request_id)
        if at + room > len(out):
            out.extend(bytes(max(room, len(out))))
        at = _put(out, at, stamp, _NOTHING)
        at = _put(out, at, _MILLISECONDS[int((now - second) * 1000)], _NOTHING)
        at = _put(out, at, client, _SPACE)
        at = _put(out, at, method, _SPACE)
        at = _put(out, at, url, _SPACE)
        at = _put_number(out, at, status, _SPACE)
        at = _put_number(out, at, body_bytes, _SPACE)
        at = _put_seconds(out, at, seconds, _SPACE)
        at = _put(out, at, label, _SPACE)
        at = _put(out, at, request_id, _NEWLINE)
    del out[at:]
    return bytes(out)


def _put(out: bytearray, at: int, piece: bytes, after: int) -> int:
    """`piece`, then the byte `after` unless it is _NOTHING, into `out` from `at`; where they end."""
    for index in range(len(piece)):
        out[at + index] = piece[index]
    return _end(out, at + len(piece), after)


def _end(out: bytearray, at: int, after: int) -> int:
    if after == _NOTHING:
        return at
    out[at] = after
    return at + 1


def _put_number(out: bytearray, at: int, number: int, after: int) -> int:
    """`number` in decimal (as `%d` writes it), then `after` (as _put)."""
    if not 0 <= number < _DIGITS_MAX:
        return _put(out, at, b"%d" % number, after)
    end = at + 1
    rest = number // 10
    while rest:
        end += 1
        rest //= 10
    index = end
    while True:
        index -= 1
        out[index] = _ZERO + number % 10
        number //= 10
        if not number:
            return _end(out, end, after)


def _put_seconds(out: bytearray, at: int, seconds: float, after: int) -> int:
    """`seconds` with four decimals (as `%.4f` writes it), then `after` (as _put). Ten-thousandths rounded from
    the product: where the product is too near half of one to say which way the decimal value rounds, and for zero
    (which may be -0.0), past _SECONDS_MAX or not a number, `%.4f` says."""
    if not (seconds > 0.0 and seconds < _SECONDS_MAX):
        return _put(out, at, b"%.4f" % seconds, after)
    scaled = seconds * 10000.0
    whole = int(scaled)
    left = scaled - whole
    if _HALF_LOW < left < _HALF_HIGH:
        return _put(out, at, b"%.4f" % seconds, after)
    if left > 0.5:
        whole += 1
    at = _put_number(out, at, whole // 10000, _DOT)
    fraction = whole % 10000
    for index in range(3, -1, -1):
        out[at + index] = _ZERO + fraction % 10
        fraction //= 10
    return _end(out, at + 4, after)
