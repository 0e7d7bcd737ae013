"""Access log lines stay one line and unambiguous whatever bytes a client sends (issue 3)."""

from pysupervise.proxy.access_log import AccessLog


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
