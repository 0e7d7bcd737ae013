"""A static folder on a failing disk (a real FUSE mount that answers EIO, tests/support/faulty_fs.py), and a front
out of file descriptors: a file that cannot be opened or read before its head is sent gets a 500 that says so, one
that fails part-way ends after what could be read (fewer bytes than its Content-Length, then a clean close); both
are logged with the file, the error and the request id, and every other file and client is served."""

from __future__ import annotations

import hashlib
import os
import socket

import psutil
import pytest

from pysupervise.proxy.static import StaticSite
from tests.support.faulty_fs import FaultyFile, faulty_filesystem
from tests.support.raw_http import RawConnection
from tests.support.site import running_site

MB = 1024 * 1024
GOOD = os.urandom(2 * MB + 3)
BAD_BIG = os.urandom(8 * MB)
BAD_SMALL = os.urandom(100 * 1024)
FROZEN = os.urandom(10 * 1024)
FROZEN_BIG = os.urandom(3 * MB)


@pytest.fixture(scope="module")
def disk():
    files = {"good.bin": FaultyFile(GOOD), "bad-big.bin": FaultyFile(BAD_BIG, bad_from=MB),
             "bad-small.bin": FaultyFile(BAD_SMALL, bad_from=8192),
             "unreachable.bin": FaultyFile(b"x", lookup_fails=True), "frozen.bin": FaultyFile(FROZEN, held=True),
             "frozen-big.bin": FaultyFile(FROZEN_BIG, held=True)}
    with faulty_filesystem(files) as mounted:
        yield mounted


@pytest.fixture(scope="module")
def site(tmp_path_factory, disk):
    mount_point, _server = disk
    # The same folder for three apps: the master logs a cause once a minute per app, and each test needs its line.
    config = "".join(f"""
[apps.{app}]
app = "web:create_app"
dir = "{{apps}}"
route = "/{app}"
workers = 1
env = {{ PREFIX = "/{app}" }}
static = {{ "/{app}-files" = "{mount_point}" }}
""" for app in ("api", "small", "lookup"))
    with running_site(tmp_path_factory.mktemp("disk-errors-site"), config) as site:
        yield site


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: files.test\r\n\r\n".encode()


def assert_logged(site, name: str, *saying: str) -> None:
    """The master log has a line about the file `name` that says each of `saying` and names the request."""
    def lines() -> list[str]:
        return [line for line in site.output_text().splitlines() if f"/{name} " in line]

    site.wait_for(lines, 10, f"the master log to name {name}")
    assert any(all(words in line for words in (*saying, "(request id ")) for line in lines()), lines()


def test_a_file_on_the_failing_disk_that_reads_whole_is_served(site):
    response = site.get("/api-files/good.bin")
    assert response.status == 200 and hashlib.sha256(response.body).digest() == hashlib.sha256(GOOD).digest()


def test_a_large_file_that_fails_part_way_is_cut_off_and_logged(site, disk):
    _mount_point, server = disk
    failed_before = server.failed_reads
    sock = socket.create_connection(("127.0.0.1", site.port), timeout=10)
    received = b""
    try:
        sock.sendall(get("/api-files/bad-big.bin"))
        while chunk := sock.recv(65536):  # to a clean close (a reset raises): the Content-Length shows the cut
            received += chunk
    finally:
        sock.close()
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and f"Content-Length: {len(BAD_BIG)}".encode() in head
    assert len(body) < len(BAD_BIG) and BAD_BIG.startswith(body)  # what came is the file's, up to the bad part
    assert server.failed_reads > failed_before
    site.wait_for(lambda: site.app_status("api")["truncated_responses"].get("static-file-unreadable") == 1, 10,
                  "the cut-off response to be counted")
    assert_logged(site, "bad-big.bin", "could not be read (Input/output error)", "connection was closed")


def test_a_small_file_that_cannot_be_read_answers_500_and_the_connection_goes_on(site):
    conn = RawConnection(site.port)
    try:
        conn.send(get("/small-files/bad-small.bin") + get("/small-files/good.bin") + get("/api/whoami?after"))
        status, headers, body = conn.read_response()
        assert status == 500 and b"could not be read" in body, (status, body[:300])
        status, _, body = conn.read_response(timeout=30)
        assert status == 200 and body == GOOD
        status, _, body = conn.read_response()
        assert status == 200 and b"/api/whoami?after" in body
    finally:
        conn.close()
    assert_logged(site, "bad-small.bin", "could not be served (Input/output error); answered 500")


def test_a_file_that_cannot_be_opened_for_a_disk_error_is_a_500_not_a_404(site):
    response = site.get("/lookup-files/unreachable.bin")
    assert response.status == 500 and b"could not be read" in response.body, response.body[:300]
    assert site.get("/lookup-files/no-such-file.bin").status == 404
    assert_logged(site, "unreachable.bin", "could not be served (Input/output error); answered 500")


def holder_of(site, sock: socket.socket) -> psutil.Process:
    """The front process (the master, or another with processes > 1) that holds this client's connection."""
    port = sock.getsockname()[1]
    for pid in site.proxy_pids():
        process = psutil.Process(pid)
        if any(c.raddr and c.raddr.port == port for c in process.net_connections()):
            return process
    raise AssertionError("no front holds the connection")


def lowest_free_descriptor(process: psutil.Process) -> int:
    used = {int(fd) for fd in os.listdir(f"/proc/{process.pid}/fd")}
    return next(fd for fd in range(len(used) + 1) if fd not in used)


@pytest.mark.parametrize("spare", [0, 1], ids=["open-fails", "dup-fails"])
def test_a_front_out_of_descriptors_answers_500_for_a_file_and_recovers(site, spare):
    # spare = 1: the file opens, and the socket descriptor the large-file transfer needs is the one refused.
    app = ("small", "lookup")[spare]
    conn = RawConnection(site.port)
    try:
        conn.send(get("/api/whoami"))
        assert conn.read_response()[0] == 200
        front = holder_of(site, conn.sock)
        soft, hard = front.rlimit(psutil.RLIMIT_NOFILE)
        front.rlimit(psutil.RLIMIT_NOFILE, (lowest_free_descriptor(front) + spare, hard))
        try:
            conn.send(get(f"/{app}-files/good.bin"))
            status, _, body = conn.read_response()
        finally:
            front.rlimit(psutil.RLIMIT_NOFILE, (soft, hard))
        assert status == 500 and b"could not be read" in body, (status, body[:300])
        conn.send(get(f"/{app}-files/good.bin"))  # the same connection, with descriptors again
        status, _, body = conn.read_response(timeout=30)
        assert status == 200 and body == GOOD
    finally:
        conn.close()
    assert_logged(site, "good.bin", "could not be served (Too many open files); answered 500")


def test_a_network_filesystem_is_read_in_threads_and_a_local_disk_on_the_loop(disk, tmp_path):
    mount_point, _server = disk
    assert StaticSite("/files", mount_point, backend=None).remote  # FUSE, as sshfs or s3fs
    assert not StaticSite("/files", tmp_path, backend=None).remote


def test_a_filesystem_that_hangs_holds_its_own_requests_and_no_others(site, disk):
    """A frozen network mount under a static folder: the requests for its files wait, the front goes on serving
    every app (a network filesystem's file work runs in threads of its own, not on the event loop)."""
    _mount_point, server = disk
    frozen = [RawConnection(site.port, timeout=30) for _ in range(2)]
    try:
        frozen[0].send(get("/api-files/frozen.bin"))
        frozen[1].send(get("/api-files/frozen-big.bin"))
        site.wait_for(lambda: server.held_reads >= 2, 10, "both reads to reach the frozen filesystem")
        for _ in range(3):
            response = site.get("/api/whoami", timeout=5)
            assert response.status == 200
        assert site.get("/small-files/good.bin", timeout=10).body == GOOD  # its pages are cached by now
        server.release.set()  # the mount answers again
        status, _, body = frozen[0].read_response(timeout=30)
        assert status == 200 and body == FROZEN
        status, _, body = frozen[1].read_response(timeout=30)
        assert status == 200 and body == FROZEN_BIG
    finally:
        server.release.set()
        for conn in frozen:
            conn.close()
