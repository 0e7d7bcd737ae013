"""Access log lines stay one line and unambiguous whatever bytes a client sends (issue 3)."""

import random
import re
import time
from types import SimpleNamespace

import pytest

from pysupervise import access_lines
from pysupervise.logs.access_log import AccessLog
from pysupervise.proxy.backend import AppBackend
from pysupervise.proxy.fronts.mirror import ForwardedAccessLog
from pysupervise.proxy.fronts.report_merge import FrontLevels, merge_report
from pysupervise.proxy.fronts.views import BackendCounts, FrontReport


def test_hostile_bytes_are_escaped_and_fields_stay_aligned(tmp_path):
    log = AccessLog(tmp_path / "access.log")
    log.record("127.0.0.1", b"GET", b'/a b"c\\d\n\xff', 200, 12, 0.0123, "web/1/0", b"rid-1")
    log.record("::1", b"POST", b"/plain?x=1", 503, 0, 1.5, "", b"rid-2")
    log.close()
    first, second = (tmp_path / "access.log").read_text().splitlines()
    fields = first.split(" ")
    assert fields[1:] == ["127.0.0.1", "GET", "/a\\x20b\\x22c\\x5cd\\x0a\\xff", "200", "12", "0.0123",
                          "web/1/0", "rid-1"]
    assert fields[0].endswith("Z") and "T" in fields[0]
    assert second.split(" ")[1:] == ["::1", "POST", "/plain?x=1", "503", "0", "1.5000", "-", "rid-2"]


@pytest.mark.parametrize("hostile", [b" ", b"\n", b"\t", b'"', b"\\", b"\x7f", b"\x00", b"\xff"])
@pytest.mark.parametrize("field", ["method", "url", "request_id"])
def test_one_hostile_byte_in_any_field_of_a_batch_is_escaped_and_the_other_lines_are_verbatim(
        tmp_path, field, hostile):
    # A batch is formatted as is and checked at once: one byte anywhere must send it through the escaping.
    log = AccessLog(tmp_path / "access.log")
    clean = {"method": b"GET", "url": b"/ok?a=1", "request_id": b"rid"}
    log.record("127.0.0.1", clean["method"], clean["url"], 200, 1, 0.5, "web/1/0", clean["request_id"])
    log.record("127.0.0.1", **{**clean, field: clean[field] + hostile}, status=200, body_bytes=1, seconds=0.5,
               worker="web/1/0")
    log.record("127.0.0.1", clean["method"], clean["url"], 200, 1, 0.5, "web/1/0", clean["request_id"])
    log.close()
    lines = (tmp_path / "access.log").read_bytes().split(b"\n")
    assert lines[3:] == [b""] and len(lines) == 4
    expected = [b"127.0.0.1", b"GET", b"/ok?a=1", b"200", b"1", b"0.5000", b"web/1/0", b"rid"]
    assert lines[0].split(b" ")[1:] == expected and lines[2].split(b" ")[1:] == expected
    escaped = dict(clean, **{field: clean[field] + b"\\x%02x" % hostile[0]})
    assert lines[1].split(b" ")[1:] == [b"127.0.0.1", escaped["method"], escaped["url"], b"200", b"1", b"0.5000",
                                        b"web/1/0", escaped["request_id"]]


def test_a_clean_batch_is_written_without_checking_field_by_field(tmp_path, monkeypatch):
    # The batch check is what makes a line cheap (issue 18): it must pass lines that need no escaping.
    checked = []
    monkeypatch.setattr(access_lines, "_safe", lambda raw: checked.append(raw) or raw)
    log = AccessLog(tmp_path / "access.log")
    for i in range(3):
        log.record("::1", b"DELETE", b"/a/%d?b=c&d=%%20" % i, 204, 0, 12.25, "app/3/1", b"req-%d" % i)
    log.close()
    assert checked == []
    assert len((tmp_path / "access.log").read_bytes().splitlines()) == 3


def test_rotates_to_one_previous_file(tmp_path):
    log = AccessLog(tmp_path / "access.log", max_file_size=16 * 1024)  # rotates past 64 KiB
    for round_number in range(3):
        for i in range(1000):
            log.record("127.0.0.1", b"GET", b"/r%d/%d" % (round_number, i), 200, 1, 0.001, "w", b"id")
        log.flush()
    log.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["access.log", "access.log.1"]
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    assert total < 2 * 64 * 1024 + 80 * 1000
    assert "/r2/999" in (tmp_path / "access.log").read_text()


def next_millisecond() -> None:
    now = int(time.time() * 1000)
    while int(time.time() * 1000) == now:
        pass


def test_lines_another_front_formatted_are_merged_in_the_order_the_requests_ended(tmp_path):
    # With [proxy] processes > 1 each front formats its own lines; the master writes them among its own.
    front = ForwardedAccessLog()
    master = AccessLog(tmp_path / "access.log")
    for i in range(3):
        # Distinct milliseconds apart: the lines' own timestamps must set the order.
        master.record("127.0.0.1", b"GET", b"/master/%d" % i, 200, 1, 0.001, "w", b"m%d" % i)
        next_millisecond()
        front.record("127.0.0.1", b"GET", b"/front/%d \n" % i, 200, 1, 0.001, "w", b"f%d" % i)
        next_millisecond()
    data, count, dropped = front.take()
    assert (count, dropped) == (3, 0)
    master.record_formatted(data, count)
    master.close()
    urls = [line.split(" ")[3] for line in (tmp_path / "access.log").read_text().splitlines()]
    # Escaped by the front, as the master would have: one line each.
    assert urls == ["/master/0", "/front/0\\x20\\x0a", "/master/1", "/front/1\\x20\\x0a", "/master/2",
                    "/front/2\\x20\\x0a"]
    stamps = [line.split(" ")[0] for line in (tmp_path / "access.log").read_text().splitlines()]
    assert stamps == sorted(stamps)
    assert front.take() == (b"", 0, 0)


def test_lines_a_front_dropped_are_counted_in_the_masters_access_log(tmp_path):
    front = ForwardedAccessLog(limit=2)
    for i in range(5):
        front.record("::1", b"GET", b"/%d" % i, 200, 1, 0.001, "w", b"id")
    backend = AppBackend("one", queue_limit=10, queue_timeout=1, upstream_timeout=1,
                         access_log=AccessLog(tmp_path / "access.log"))
    lines, count, dropped = front.take()
    report = FrontReport(backends={"one": BackendCounts(access_lines=lines, access_line_count=count,
                                                        access_lines_dropped=dropped)})
    merge_report(report, FrontLevels(), SimpleNamespace(backends={"one": backend}), [])
    backend.access_log.close()
    assert backend.access_log.dropped_lines == 3
    assert len((tmp_path / "access.log").read_text().splitlines()) == 2
    # Counted once: the next report carries no drops unless there are new ones.
    assert front.take() == (b"", 0, 0)


def reference_line(now, client_ip, method, url, status, body_bytes, seconds, worker, request_id) -> bytes:
    """The access line as the format says, with Python's own formatting: `%d` and `%.4f` for the numbers, every
    byte outside visible ASCII (and the quote and the backslash) of the client's fields as \\xNN."""
    def escaped(raw: bytes) -> bytes:
        return re.sub(rb'[^\x21-\x7e]|["\\]', lambda match: b"\\x%02x" % match.group()[0], raw)
    second = int(now)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
    return b"%s.%03dZ %s %s %s %d %d %.4f %s %s\n" % (
        stamp, int((now - second) * 1000), client_ip.encode() or b"-", escaped(method), escaped(url), status,
        body_bytes, seconds, worker.encode() or b"-", escaped(request_id))


def test_lines_are_what_pythons_formatting_writes_for_any_numbers_and_bytes():
    # access_lines writes the numbers' digits itself (issue 18): the seconds' rounding, the digits of any status
    # and size, and the escaping must be %.4f's, %d's and the format's, line for line.
    rng = random.Random(18)
    awkward_seconds = [0.0, -0.0, 0.00005, 0.00015, 0.00025, 0.12345, 1.00005, 0.99995, 9.99995, 123.45675,
                       2.5e-5, 1e-9, 0.49995, 1e9 - 0.00005, 1e9, 1e12, -1.5, float("inf"), float("nan")]
    hostile = [b"", b"GET", b"/a b", b'"', b"\\", b"\x00", b"\x7f", b"\xff\xfe", b"/ok?x=1", b"\n\r\t"]
    records = []
    for index in range(20_000):
        if index < len(awkward_seconds):
            seconds = awkward_seconds[index]
        else:
            seconds = rng.choice([rng.random() * 10 ** rng.randint(-6, 6), rng.randint(0, 10 ** 6) / 10000 + 0.00005,
                                  rng.randint(0, 10 ** 8) / 10000])
        status = rng.choice([200, 404, 499, 0, 999, 1000, -1, rng.randint(100, 599)])
        body_bytes = rng.choice([0, 6, rng.randint(0, 10 ** 6), 10 ** 18 - 1, 10 ** 18, 2 ** 62])
        now = 1_700_000_000 + rng.random() * 5
        fields = [rng.choice(hostile) + bytes(rng.randrange(0x21, 0x7f) for _ in range(rng.randint(0, 12)))
                  for _ in range(3)]
        records.append((now, rng.choice(["127.0.0.1", "::1", ""]), fields[0], fields[1], status, body_bytes,
                        seconds, rng.choice(["web/1/0", "static", ""]), fields[2]))
    # Clean batches take the verbatim way, a batch with one hostile byte the escaping: both are compared.
    clean = [record for record in records if all(not re.search(rb'[^\x21-\x7e]|["\\]', field)
                                                  for field in (record[2], record[3], record[8]))]
    for batch in (clean, records):
        expected = b"".join(reference_line(*record) for record in sorted(batch, key=lambda record: record[0]))
        assert access_lines.format_lines(list(batch)) == expected
