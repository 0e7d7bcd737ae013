"""Access log lines stay one line and unambiguous whatever bytes a client sends (issue 3)."""

from pysupervise.logs.access_log import AccessLog


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
