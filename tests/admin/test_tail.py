"""Live tail over Server-Sent Events: new lines, resume by byte offset, rollovers, side files (issue 5 §3)."""

from __future__ import annotations

import json

import pytest

from tests.admin.support import AdminThread, FolderSite, SseClient, admin_settings, local, log_settings, request


@pytest.fixture
def stdout(admin, site):
    logs = site.logs("web")
    writer = admin.call(lambda: logs.open_stream(0, 700, "stdout"))
    admin.call(lambda: writer.write(b"first\nsecond\n"))
    return writer


def test_the_tail_sends_new_lines_with_their_byte_offsets(admin, stdout):
    tail = SseClient(admin.port, f"/web/logs/tail/{stdout.path.name}?from=0", local())
    try:
        assert tail.status == 200
        assert tail.response.getheader("Content-Type").startswith("text/event-stream")
        assert tail.response.getheader("X-Request-Id")
        lines, events = tail.lines_until(lambda got: len(got) >= 2)
        assert lines == ["first", "second"] and events[-1].id == "13"
        admin.call(lambda: stdout.write(b"third \x1b[32mgreen\x1b[0m <i>\n"))
        event = tail.next_event()
        payload = json.loads(event.data)
        assert payload["lines"] == ["third \x1b[32mgreen\x1b[0m <i>"]
        assert payload["html"] == ['third <span class="fg2">green</span> &lt;i&gt;']
        assert event.id == str(stdout.path.stat().st_size)
    finally:
        tail.close()


def test_a_reconnect_resumes_after_the_last_byte(admin, stdout):
    first = SseClient(admin.port, f"/web/logs/tail/{stdout.path.name}?from=0", local())
    _, events = first.lines_until(lambda got: got[-1:] == ["second"])
    first.close()
    last_id = events[-1].id
    admin.call(lambda: stdout.write(b"while away\n"))
    # EventSource sends Last-Event-ID on reconnect; it wins over ?from in the (unchanged) URL.
    again = SseClient(admin.port, f"/web/logs/tail/{stdout.path.name}?from=0", local({"Last-Event-ID": last_id}))
    try:
        lines, _ = again.lines_until(lambda got: len(got) >= 1)
        assert lines == ["while away"]
    finally:
        again.close()


def test_without_a_start_the_tail_begins_at_the_end(admin, stdout):
    tail = SseClient(admin.port, f"/web/logs/tail/{stdout.path.name}", local())
    try:
        admin.call(lambda: stdout.write(b"only this\n"))
        lines, _ = tail.lines_until(lambda got: len(got) >= 1)
        assert lines == ["only this"]
    finally:
        tail.close()


def test_the_tail_follows_rollovers_and_resumes_inside_them(tmp_path):
    site = FolderSite(tmp_path / "logs", log_settings(max_file_size=64))
    logs = site.add_app("web")
    admin = AdminThread(site, admin_settings(), None)
    try:
        writer = admin.call(lambda: logs.open_stream(2, 900, "stderr"))
        first_file = writer.path.name
        admin.call(lambda: writer.write(b"a" * 40 + b"\n"))
        tail = SseClient(admin.port, f"/web/logs/tail/{first_file}?from=0", local())
        lines, _ = tail.lines_until(lambda got: len(got) >= 1)
        admin.call(lambda: writer.write(b"b" * 40 + b"\n"))  # does not fit: a new file
        admin.call(lambda: writer.write(b"c" * 10 + b"\n"))
        assert writer.path.name != first_file
        lines, events = tail.lines_until(lambda got: len(got) >= 2)
        assert lines == ["b" * 40, "c" * 10]
        assert events[-1].id == f"{writer.path.name}:52"
        assert json.loads(events[-1].data)["file"] == writer.path.name
        tail.close()

        admin.call(lambda: writer.write(b"d" * 5 + b"\n"))
        again = SseClient(admin.port, f"/web/logs/tail/{first_file}?from=0", local({"Last-Event-ID": events[-1].id}))
        lines, _ = again.lines_until(lambda got: len(got) >= 1)
        assert lines == ["d" * 5]
        again.close()
    finally:
        admin.stop()


def test_events_log_can_be_tailed_and_filtered(admin, site):
    events = site.log_dir("web") / "events.log"
    events.write_text("old event\n")
    tail = SseClient(admin.port, "/web/logs/tail/events.log?q=READY", local())
    try:
        with events.open("a") as file:
            file.write("worker-spawned slot=1\nworker-ready slot=1\n")
        lines, _ = tail.lines_until(lambda got: len(got) >= 1)
        assert lines == ["worker-ready slot=1"]
    finally:
        tail.close()


def test_a_line_without_newline_is_sent_once_it_stops_growing(admin, stdout):
    tail = SseClient(admin.port, f"/web/logs/tail/{stdout.path.name}", local())
    try:
        admin.call(lambda: stdout.write("loading… ".encode()))
        lines, events = tail.lines_until(lambda got: len(got) >= 1)
        assert lines == ["loading… "]
        assert events[-1].id == str(stdout.path.stat().st_size)
    finally:
        tail.close()


def test_tails_need_access_too(admin, stdout):
    assert request(admin.port, f"/web/logs/tail/{stdout.path.name}", {"X-Forwarded-For": "10.1.2.3"}).status == 404
    assert request(admin.port, "/web/logs/tail/missing.log", local()).status == 404


def test_stopping_the_admin_app_ends_open_tails(site):
    server = AdminThread(site, admin_settings(), None)
    logs = site.logs("web")
    writer = server.call(lambda: logs.open_stream(0, 5, "stdout"))
    tail = SseClient(server.port, f"/web/logs/tail/{writer.path.name}", local(), timeout=30)
    server.stop()  # the runner's shutdown_timeout is 2 s; an ended tail lets it finish without waiting for that
    with pytest.raises(ConnectionError):
        tail.next_event()
    tail.close()
