"""Large static files go out with sendfile(): whole and in order for slow readers and pipelined requests; a client
that takes nothing is dropped after send_timeout; a file that becomes shorter while it is being sent cuts its client
off, visibly (fewer bytes than its Content-Length, then a clean close), logged and counted."""

from __future__ import annotations

import hashlib
import email.utils
import mimetypes
import os
import socket
import threading
import time

import psutil
import pytest

from tests.support.poll import wait_until
from tests.support.raw_http import RawConnection
from tests.support.site import running_site

# Larger than what the kernel's socket buffers and the transport's can hold together: a client that reads
# nothing leaves the proxy in the middle of the file.
BIG = 24 * 1024 * 1024 + 5


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("static-files")
    (root / "public").mkdir()
    (root / "public" / "big.bin").write_bytes(os.urandom(BIG))
    (root / "public" / "mid.bin").write_bytes(os.urandom(300 * 1024))
    return root


@pytest.fixture(scope="module")
def site(tmp_path_factory, folder):
    config = f"""
[proxy]
send_timeout = 2

[apps.api]
app = "web:create_app"
dir = "{{apps}}"
route = "/api"
workers = 1
env = {{ PREFIX = "/api" }}
static = {{ "/files" = "{folder / 'public'}" }}
"""
    with running_site(tmp_path_factory.mktemp("static-site"), config) as site:
        yield site


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: files.test\r\n\r\n".encode()


def slow_reader(port: int) -> socket.socket:
    """A client whose receive buffer is tiny, so the proxy's socket fills after a few KiB."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


def read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "closed before the head"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def test_a_slow_reader_gets_a_large_file_whole(site, folder):
    sock = slow_reader(site.port)
    try:
        sock.sendall(get("/files/big.bin"))
        head, body = read_head(sock)
        assert head.startswith(b"HTTP/1.1 200") and f"Content-Length: {BIG}".encode() in head
        digest, received = hashlib.sha256(body), len(body)
        while received < BIG:
            chunk = sock.recv(65536)
            assert chunk, f"closed after {received} of {BIG} bytes"
            digest.update(chunk)
            received += len(chunk)
    finally:
        sock.close()
    assert digest.hexdigest() == hashlib.sha256((folder / "public" / "big.bin").read_bytes()).hexdigest()


def test_pipelined_behind_large_files_and_ranges_in_order(site, folder):
    big = (folder / "public" / "big.bin").read_bytes()
    mid = (folder / "public" / "mid.bin").read_bytes()
    conn = RawConnection(site.port, timeout=30)
    try:
        ranged = b"GET /files/big.bin HTTP/1.1\r\nHost: files.test\r\nRange: bytes=1000-2000999\r\n\r\n"
        conn.send(get("/files/mid.bin") + ranged + get("/api/whoami?after") + get("/files/big.bin"))
        status, _, body = conn.read_response()
        assert status == 200 and body == mid
        status, headers, body = conn.read_response()
        assert status == 206 and body == big[1000:2001000], headers
        status, _, body = conn.read_response()
        assert status == 200 and b"/api/whoami?after" in body
        status, _, body = conn.read_response(timeout=30)
        assert status == 200 and body == big
        conn.send(get("/api/whoami?still-alive"))  # the connection is still framed right
        status, _, body = conn.read_response()
        assert status == 200 and b"still-alive" in body
    finally:
        conn.close()


def test_a_file_that_becomes_shorter_while_sent_is_cut_off_after_what_it_still_has(site, folder):
    changing = folder / "public" / "changing.bin"
    changing.write_bytes(os.urandom(BIG))
    sock = slow_reader(site.port)
    try:
        sock.sendall(get("/files/changing.bin"))
        head, body = read_head(sock)
        assert f"Content-Length: {BIG}".encode() in head
        with open(changing, "r+b") as file:
            file.truncate(1024 * 1024)  # as `cp` rewrites a file in place
        received = len(body)
        while chunk := sock.recv(65536):  # to a clean close (a reset raises): the Content-Length shows the cut
            received += len(chunk)
        # All the file still had (and what was in the socket before the cut), as a download that can resume.
        assert 1024 * 1024 <= received < BIG, received
    finally:
        sock.close()
    wait_until(lambda: site.app_status("api")["truncated_responses"] == {"static-file-changed": 1}, 10,
               "the cut-off response to be counted")
    wait_until(lambda: "static file" in site.output_text() and "became shorter" in site.output_text(), 10,
               "the master log to name the file")
    assert str(changing) in site.output_text()
    assert site.get("/files/changing.bin").body == changing.read_bytes()  # its new content, whole


def test_a_client_that_takes_nothing_of_a_large_file_is_dropped_after_send_timeout(site):
    sock = slow_reader(site.port)
    try:
        sock.sendall(get("/files/big.bin"))
        read_head(sock)
        port = sock.getsockname()[1]

        def held() -> bool:
            return any(c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == port
                       for pid in site.proxy_pids() for c in psutil.Process(pid).net_connections())

        assert held()
        wait_until(lambda: not held(), 15, "the proxy to drop a client that reads nothing (send_timeout = 2)")
    finally:
        sock.close()


def test_a_name_that_leads_out_of_the_folder_since_it_was_served_is_refused(site, folder):
    # Where a name's file really is, is remembered with the file it was (site.py real_path): a symlink swapped to
    # point out of the folder is a different file, looked up again, and refused.
    public = folder / "public"
    (public / "inside.txt").write_text("inside")
    (folder / "secret.txt").write_text("secret")
    link = public / "swapped.txt"
    link.symlink_to(public / "inside.txt")
    for _ in range(2):
        assert site.get("/files/swapped.txt").text == "inside"
    swap = public / "swapping"
    swap.symlink_to(folder / "secret.txt")
    os.replace(swap, link)  # as a deploy swaps a link: never a moment without one
    response = site.get("/files/swapped.txt")
    assert response.status == 404 and b"secret" not in response.body


def test_dates_and_types_are_written_as_the_standard_library_writes_them(site, folder):
    public = folder / "public"
    (public / "page.min.js").write_text("let x = 1;")
    os.utime(public / "page.min.js", (0, 1_000_000_123.75))
    before = time.time()
    response = site.get("/files/page.min.js")
    after = time.time()
    assert response.header("Last-Modified") == email.utils.formatdate(1_000_000_123.75, usegmt=True)
    assert response.header("Content-Type") == f"{mimetypes.guess_type('page.min.js')[0]}; charset=utf-8"
    served = email.utils.parsedate_to_datetime(response.header("Date")).timestamp()
    assert int(before) <= served <= after


def conditional(port: int, path: str, *header_lines: str) -> tuple[int, dict[str, list[str]], bytes]:
    """A GET with these header lines as written (names in any case, repeated), on a connection of its own."""
    conn = RawConnection(port)
    try:
        lines = "".join(f"{line}\r\n" for line in header_lines)
        conn.send(f"GET {path} HTTP/1.1\r\nHost: files.test\r\n{lines}\r\n".encode())
        return conn.read_response()
    finally:
        conn.close()


def test_a_rewritten_file_is_served_with_new_validators(site, folder):
    # ETag, Last-Modified and Content-Type are made once per version of a file (site.py file_headers): a new
    # mtime or size makes new ones, and the old ETag no longer matches.
    page = folder / "public" / "versioned.css"
    page.write_text("body { color: red }")
    os.utime(page, (0, 1_700_000_000.5))
    first = site.get("/files/versioned.css")
    assert site.get("/files/versioned.css", headers={"If-None-Match": first.header("ETag")}).status == 304
    page.write_text("body { color: blue; }")  # another size
    os.utime(page, (0, 1_700_000_100.25))
    second = site.get("/files/versioned.css")
    assert second.body == b"body { color: blue; }" and second.header("ETag") != first.header("ETag")
    assert second.header("Last-Modified") == email.utils.formatdate(1_700_000_100.25, usegmt=True)
    stale = site.get("/files/versioned.css", headers={"If-None-Match": first.header("ETag")})
    assert stale.status == 200 and stale.body == second.body
    page.write_text("body { color: gray; }")  # the same size, another mtime
    os.utime(page, (0, 1_700_000_200.0))
    third = site.get("/files/versioned.css")
    assert third.body == b"body { color: gray; }" and third.header("ETag") not in (first.header("ETag"),
                                                                                    second.header("ETag"))
    assert site.get("/files/versioned.css", headers={"If-None-Match": second.header("ETag")}).status == 200


def test_conditional_headers_are_read_in_any_case_and_if_none_match_across_lines(site, folder):
    page = folder / "public" / "conditional.txt"
    page.write_bytes(b"0123456789")
    etag = site.get("/files/conditional.txt").header("ETag")
    assert conditional(site.port, "/files/conditional.txt", f"IF-NONE-MATCH: {etag}")[0] == 304
    # A list field over two lines is one list: the tag in the second line matches.
    assert conditional(site.port, "/files/conditional.txt", 'If-None-Match: "other"',
                       f"if-none-match: {etag}")[0] == 304
    assert conditional(site.port, "/files/conditional.txt", 'If-None-Match: "other"')[0] == 200
    # As many lines as a head may hold (max_header_count, under max_header_size): still one list.
    many = [f'If-None-Match: "{"x" * 560}-{i}"' for i in range(97)]
    assert conditional(site.port, "/files/conditional.txt", *many, f"If-None-Match: {etag}")[0] == 304
    status, headers, body = conditional(site.port, "/files/conditional.txt", "rAnGe: bytes=2-4")
    assert (status, body) == (206, b"234") and headers["content-range"] == ["bytes 2-4/10"]


def test_if_range_gives_the_part_only_for_the_same_file(site, folder):
    page = folder / "public" / "ranged.txt"
    page.write_bytes(b"abcdefghij")
    whole = site.get("/files/ranged.txt")
    etag, modified = whole.header("ETag"), whole.header("Last-Modified")
    assert conditional(site.port, "/files/ranged.txt", "Range: bytes=0-2", f"If-Range: {etag}")[::2] == (206, b"abc")
    assert conditional(site.port, "/files/ranged.txt", "Range: bytes=0-2",
                       f"If-Range: {modified}")[::2] == (206, b"abc")
    # Another file's tag: the client's part is of something else, so it gets the whole file.
    assert conditional(site.port, "/files/ranged.txt", "Range: bytes=0-2",
                       'If-Range: "x-1"')[::2] == (200, b"abcdefghij")


def test_thousands_of_pipelined_small_files_are_answered_in_order(site, folder):
    # A small file from a local disk is answered as its request starts, inside the connection's own loop over
    # its pipelined requests (client/connection.py _next): 3 000 in one send must come back whole, in order,
    # without that loop nesting once per request.
    public = folder / "public"
    names = [f"piped-{i}.txt" for i in range(3)]
    for i, name in enumerate(names):
        (public / name).write_bytes(b"file %d " % i * (i + 1))
    count = 3000
    conn = RawConnection(site.port, timeout=30)
    # Sent from a thread while the answers are read: a proxy that stops reading until its answers are taken must
    # not leave this test waiting on its own send.
    sender = threading.Thread(target=conn.send, args=(b"".join(get(f"/files/{names[i % 3]}") for i in range(count)),),
                              daemon=True)
    sender.start()
    try:
        for i in range(count):
            status, _, body = conn.read_response(timeout=30)
            assert (status, body) == (200, b"file %d " % (i % 3) * (i % 3 + 1)), i
    finally:
        sender.join(30)
        conn.close()
    assert site.get("/api/whoami").status == 200
