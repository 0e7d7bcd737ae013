"""The log browser's pages over real files: index, file view, raw with Range, search, traversal (issue 5 §3–4)."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import socket
import tempfile
from pathlib import Path

import pytest

from pysupervise.admin import AdminServer, create_admin_app
from tests.admin.support import AdminThread, admin_settings, local, request

FIVE_LINES = [b"request 1 served", b"request 2 <script>alert('x')</script>", b"request 3 & friends",
              b"request 4 \"quoted\"", b"request 5 done"]


def shown_lines(page: str) -> list[str]:
    """The text of each line in the file view, tags removed and entities decoded."""
    lines = re.findall(r'<span class="l"[^>]*>(.*?)\n</span>', page, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", line)) for line in lines]


@pytest.fixture
def printed(admin, site):
    """A worker (slot 0, pid 4321) that printed five lines to stdout and one to stderr."""
    logs = site.logs("web")
    out = admin.call(lambda: logs.open_stream(0, 4321, "stdout"))
    err = admin.call(lambda: logs.open_stream(0, 4321, "stderr"))
    admin.call(lambda: out.write(b"".join(line + b"\n" for line in FIVE_LINES)))
    admin.call(lambda: err.write(b"Traceback: boom\n"))
    return out, err


def test_the_index_lists_worker_files_newest_first_with_stderr_marked_and_events(admin, site, printed):
    out, err = printed
    site.events["web"] += ["2024-01-01T00:00:00.000Z worker-spawned generation=1 slot=0 pid=4321",
                           "2024-01-01T00:00:01.000Z worker-ready <b>x</b>"]
    page = request(admin.port, "/web/logs", local()).text
    rows = re.findall(r'<tr class="(stdout|stderr)">(.*?)</tr>', page, re.S)
    assert [kind for kind, _ in rows] == ["stderr", "stdout"]  # stderr was opened last
    stdout_row = rows[1][1]
    assert ">0<" in stdout_row and ">4321<" in stdout_row and f'title="{out.path.stat().st_size} bytes"' in stdout_row
    assert f'href="/web/logs/{out.path.name}"' in stdout_row
    assert f'href="/web/logs/raw/{err.path.name}"' in rows[0][1]
    assert "worker-spawned generation=1 slot=0 pid=4321" in page
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page

    as_json = json.loads(request(admin.port, "/web/logs", local({"Accept": "application/json"})).body)
    assert [f["stream"] for f in as_json["files"]] == ["stderr", "stdout"]
    assert as_json["files"][1] == {"name": out.path.name, "slot": 0, "pid": 4321, "stream": "stdout",
                                   "created": as_json["files"][1]["created"], "size": out.path.stat().st_size,
                                   "sequence": 0, "live": True, "view": f"/web/logs/{out.path.name}",
                                   "raw": f"/web/logs/raw/{out.path.name}"}


def test_the_file_view_shows_exactly_the_lines_escaped(admin, printed):
    out, _ = printed
    response = request(admin.port, f"/web/logs/{out.path.name}", local())
    assert response.status == 200
    assert response.header("Content-Type").startswith("text/html")
    assert shown_lines(response.text) == [line.decode() for line in FIVE_LINES]
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in response.text
    assert "<script>alert" not in response.text
    assert "worker 0 · pid 4321 · stdout" in response.text


def test_ansi_colours_become_spans_and_no_escape_byte_reaches_the_page(admin, site):
    logs = site.logs("web")
    writer = admin.call(lambda: logs.open_stream(1, 55, "stderr"))
    admin.call(lambda: writer.write(b"\x1b[1;31mERROR\x1b[0m plain \x1b]0;title\x07\x1b[2K\x1b[38;5;208morange"
                                    b"\x1b[0m \x1b[31m<b>\x1b[0m\x00\x07\n"))
    page = request(admin.port, f"/web/logs/{writer.path.name}", local()).text
    assert "\x1b" not in page and "\x00" not in page and "\x07" not in page
    assert '<span class="b fg1">ERROR</span> plain ' in page
    assert '<span class="fg1">&lt;b&gt;</span>' in page
    assert shown_lines(page) == ["ERROR plain orange <b>"]


def test_raw_download_supports_range_requests(admin, printed):
    out, _ = printed
    data = out.path.read_bytes()
    whole = request(admin.port, f"/web/logs/raw/{out.path.name}", local())
    assert whole.status == 200 and whole.body == data
    assert whole.header("Content-Type") == "text/plain; charset=utf-8"
    assert whole.header("Accept-Ranges") == "bytes"
    part = request(admin.port, f"/web/logs/raw/{out.path.name}", local({"Range": "bytes=8-20"}))
    assert part.status == 206 and part.body == data[8:21]
    assert part.header("Content-Range") == f"bytes 8-20/{len(data)}"
    suffix = request(admin.port, f"/web/logs/raw/{out.path.name}", local({"Range": "bytes=-6"}))
    assert suffix.status == 206 and suffix.body == data[-6:]
    beyond = request(admin.port, f"/web/logs/raw/{out.path.name}", local({"Range": f"bytes={len(data) + 10}-"}))
    assert beyond.status == 416
    alias = request(admin.port, f"/web/logs/{out.path.name}?raw", local({"Range": "bytes=0-6"}))
    assert alias.status == 206 and alias.body == data[:7]


def test_search_filters_lines_on_the_server(admin, printed):
    out, _ = printed
    page = request(admin.port, f"/web/logs/{out.path.name}?q=REQUEST+3", local()).text
    assert shown_lines(page) == ["request 3 & friends"]
    assert '<span class="l" data-n="3"><mark>request 3</mark> &amp; friends' in page
    assert "1 of 5 lines contain" in page
    none = request(admin.port, f"/web/logs/{out.path.name}?q=%3Cscript%3E", local()).text
    assert shown_lines(none) == ["request 2 <script>alert('x')</script>"]
    assert 'value="&lt;script&gt;"' in none and "<script>alert" not in none


def test_side_files_are_viewable(admin, site):
    (site.log_dir("web") / "events.log").write_text("2024 worker-spawned slot=0\n2024 worker-ready slot=0\n")
    page = request(admin.port, "/web/logs/events.log", local()).text
    assert shown_lines(page) == ["2024 worker-spawned slot=0", "2024 worker-ready slot=0"]
    index = request(admin.port, "/web/logs", local()).text
    assert 'href="/web/logs/events.log"' in index and "access.log" in index


def test_the_apps_index_links_every_app(admin):
    page = request(admin.port, "/_pysupervise/", local()).text
    for app in ("web", "other"):
        assert f'href="/{app}/logs"' in page and f'href="/{app}/status"' in page and f'href="/{app}/debug"' in page
    assert "(planned)" not in page  # the debugger exists
    bare = request(admin.port, "/_pysupervise", local())
    assert bare.status == 302 and bare.header("Location") == "/_pysupervise/"
    as_json = json.loads(request(admin.port, "/_pysupervise/", local({"Accept": "application/json"})).body)
    assert [a["app"] for a in as_json["apps"]] == ["web", "other"]
    css = request(admin.port, re.search(r'href="([^"]+admin\.css)"', page).group(1), local())
    assert css.status == 200 and css.header("Content-Type").startswith("text/css")


TRAVERSALS = [
    "/web/logs/../../../../etc/passwd",
    "/web/logs/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/web/logs/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/web/logs/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/web/logs/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/web/logs/raw/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/web/logs/raw/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/web/logs/raw/%252e%252e%252fetc%252fpasswd",
    "/web/logs/raw//etc/passwd",
    "/web/logs/raw/%2Fetc%2Fpasswd",
    "/web/logs//etc/passwd",
    "/web/logs/tail/..%2f..%2fetc%2fpasswd?from=0",
    "/web/logs/raw/..%5c..%5cetc%5cpasswd",
    "/web/logs/raw/.%2e/.%2e/etc/passwd",
    "/web/logs/raw/%2e%2e",
    "/web/logs/raw/.",
    "/web/logs/raw/..",
    "/web/logs/raw/events.log%00.txt",
    "/web/logs/raw/events.log%2f",
    "/web/logs/raw/events.log%0a",
    "/web/logs/raw/events.log%0A",
    "/web/logs/raw/passwd",
    "/web/logs/raw/0-1-stdout-1.log",      # a symlink to /etc/passwd, named like a worker file
    "/web/logs/0-1-stdout-1.log",
    "/web/logs/raw/access.log",            # a symlink to /etc/passwd, named like a side file
    "/web/logs/access.log",
    "/web/logs/tail/access.log?from=0",
    "/other/logs/raw/{web_file}",          # another app's file through this app's URL
    "/../web/logs/raw/{web_file}/..%2f..%2f..%2fetc%2fpasswd",
    "/nope/logs",
    "/nope/logs/raw/events.log",
    "/%2e%2e/logs/raw/events.log",
]


def test_traversal_attempts_all_get_404(admin, site, printed):
    out, _ = printed
    folder = site.log_dir("web")
    os.symlink("/etc/passwd", folder / "0-1-stdout-1.log")
    os.symlink("/etc/passwd", folder / "access.log")
    (site.log_dir("other") / "events.log").write_text("other's events\n")
    for path in TRAVERSALS:
        path = path.format(web_file=out.path.name)
        response = request(admin.port, path, local())
        assert response.status == 404, path
        assert b"root:" not in response.body, path
    # The real files are still served, so the 404s above are not a broken route.
    assert request(admin.port, f"/web/logs/raw/{out.path.name}", local()).status == 200
    assert request(admin.port, "/other/logs/raw/events.log", local()).body == b"other's events\n"


def test_the_admin_server_answers_on_a_unix_socket_and_removes_it(site):
    site_thread = AdminThread(site, admin_settings(), None)  # only for its loop
    socket_path = Path(tempfile.mkdtemp(prefix="ps-admin-", dir="/tmp")) / "admin.sock"
    server = AdminServer(create_admin_app(site, admin_settings(), None), socket_path)
    try:
        asyncio.run_coroutine_threadsafe(server.start(), site_thread.loop).result(10)
        assert oct(socket_path.stat().st_mode & 0o777) == "0o600"
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(10)
            client.connect(str(socket_path))
            client.sendall(b"GET /web/logs HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 127.0.0.1\r\n"
                           b"X-Request-Id: via-unix\r\nConnection: close\r\n\r\n")
            data = b""
            while chunk := client.recv(65536):
                data += chunk
        assert data.startswith(b"HTTP/1.1 200 ")
        assert b"X-Request-Id: via-unix" in data and b"web \xc2\xb7 logs" in data
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), site_thread.loop).result(10)
        site_thread.stop()
    assert not socket_path.exists()
    socket_path.parent.rmdir()


def test_parts_of_one_worker_stream_link_to_each_other(tmp_path):
    from tests.admin.support import FolderSite, log_settings

    site = FolderSite(tmp_path / "logs", log_settings(max_file_size=64))
    logs = site.add_app("web")
    server = AdminThread(site, admin_settings(), None)
    try:
        writer = server.call(lambda: logs.open_stream(0, 8, "stdout"))
        server.call(lambda: writer.write(b"a" * 50 + b"\n"))
        first = writer.path.name
        server.call(lambda: writer.write(b"b" * 50 + b"\n"))
        second = writer.path.name
        page_one = request(server.port, f"/web/logs/{first}", local()).text
        page_two = request(server.port, f"/web/logs/{second}", local()).text
        assert f'<a href="/web/logs/{second}">next part</a>' in page_one and "earlier part" not in page_one
        assert f'<a href="/web/logs/{first}">earlier part</a>' in page_two and "next part" not in page_two
        assert "part 2" in page_two
    finally:
        server.stop()
