"""Slow readers never hold worker slots: the proxy reads responses ahead of them, into memory and spill files."""

from __future__ import annotations

import hashlib
import os
import socket
import struct

from tests.support.poll import wait_until
from tests.support.site import Site, proxy_section

MIB = 1024 * 1024
BLOCK = bytes(range(256)) * 256  # the pattern /download sends, 64 KiB at a time


def site_config(**proxy: str | int) -> str:
    # One front: these tests count the worker's 2 slots, and with two fronts each would have one of them (a
    # slow reader's request and the test's probe of /progress could not be in flight in one front together).
    return proxy_section(**proxy) + """
[apps.slow]
app = "web:create_app"
dir = "{apps}"
route = "/slow"
workers = 1
max_concurrent_requests = 2
env = { PREFIX = "/slow" }
"""


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode()


def download_sha(size: int) -> str:
    sha = hashlib.sha256()
    for start in range(0, size, len(BLOCK)):
        sha.update(BLOCK[: min(len(BLOCK), size - start)])
    return sha.hexdigest()


class SlowReader:
    """A client with a tiny receive window that sends its requests, then reads nothing until a test says so."""

    def __init__(self, port: int, requests: bytes) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)  # before connect: a small window
        self.sock.settimeout(30)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(requests)
        self.pending = b""

    def _more(self) -> None:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("the proxy closed the connection")
        self.pending += data

    def read_exactly(self, n: int) -> bytes:
        while len(self.pending) < n:
            self._more()
        data, self.pending = self.pending[:n], self.pending[n:]
        return data

    def read_line(self) -> bytes:
        while b"\r\n" not in self.pending:
            self._more()
        line, self.pending = self.pending.split(b"\r\n", 1)
        return line

    def read_head(self) -> tuple[int, dict[str, str]]:
        status = int(self.read_line().split()[1])
        headers = {}
        while line := self.read_line():
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        return status, headers

    def body_sha(self, length: int) -> str:
        """Read a body of `length` bytes without holding it all."""
        sha = hashlib.sha256()
        left = length
        while left:
            if not self.pending:
                self._more()
            piece, self.pending = self.pending[:left], self.pending[left:]
            sha.update(piece)
            left -= len(piece)
        return sha.hexdigest()

    def next_chunk(self) -> bytes:
        size = int(self.read_line(), 16)
        data = self.read_exactly(size + 2)
        assert data.endswith(b"\r\n")
        return data[:-2]

    def close(self) -> None:
        self.sock.close()


def worker_numbers(site: Site) -> tuple[int, int, int]:
    """(requests the worker has finished, requests in flight on it, requests waiting in the queue)."""
    status = site.app_status("slow")
    workers = status["workers"]
    return (sum(w["requests"] for w in workers), sum(w["in_flight"] for w in workers), status["queue_length"])


def open_spill_files(site: Site, kind: str = "response-") -> list[int]:
    """Sizes of the deleted spill files of one kind ("response-", "body-": request bodies) the master (and its
    other front processes) hold open."""
    prefix = str(site.run_dir / "bodies" / kind)
    sizes = []
    for pid in site.proxy_pids():
        for fd in os.listdir(f"/proc/{pid}/fd"):
            path = f"/proc/{pid}/fd/{fd}"
            try:
                if os.readlink(path).startswith(prefix) and os.readlink(path).endswith("(deleted)"):
                    sizes.append(os.stat(path).st_size)
            except FileNotFoundError:
                pass  # closed while we looked
    return sizes


def test_slow_readers_leave_the_worker_free_and_still_get_every_byte(make_site):
    site = make_site(site_config())  # response_buffer_max 1 MiB, response_spill_max 1 GiB (defaults)
    size = 16 * MIB  # far more than socket buffers and response_buffer_max together
    # Twice the slots: two requests wait in the queue until the first two are read ahead.
    readers = [SlowReader(site.port, get(f"/slow/download?size={size}&r={i}") + get("/slow/whoami"))
               for i in range(4)]
    try:
        site.wait_for(lambda: worker_numbers(site) == (4, 0, 0), 60,
                      "the worker to finish all 4 downloads while their clients read nothing")
        normal = site.get("/slow/whoami")
        assert normal.status == 200 and normal.json()["app"] == "slow"
        site.wait_for(lambda: worker_numbers(site) == (5, 0, 0), 5, "the normal request counted")
        assert len(open_spill_files(site)) == 4  # each slow client's response passed response_buffer_max

        for reader in readers:
            status, headers = reader.read_head()
            assert status == 200 and int(headers["content-length"]) == size
            assert reader.body_sha(size) == download_sha(size)
            status, _ = reader.read_head()  # the pipelined request after it is answered next, in order
            assert status == 200
        site.wait_for(lambda: not open_spill_files(site), 10, "the spill files to be closed once read")
        status = site.wait_for(lambda: (s := site.app_status("slow"))["status_counts"].get("200") == 9 and s, 5,
                               "9 answers counted")
        assert status["bytes_out"] >= 4 * size
        log = site.log_dir / "slow" / "access.log"

        def download_lines() -> list[list[str]]:
            lines = [line.split(" ") for line in log.read_text().splitlines()] if log.exists() else []
            return [line for line in lines if "/slow/download" in line[3]]

        lines = wait_until(lambda: len(download_lines()) == 4 and download_lines(), 10, "4 access log lines")
        assert all(line[4] == "200" and int(line[5]) == size for line in lines)
    finally:
        for reader in readers:
            reader.close()


def test_clients_that_leave_mid_response_leave_no_spill_file_open(make_site):
    site = make_site(site_config())
    size = 16 * MIB
    readers = [SlowReader(site.port, get(f"/slow/download?size={size}&r={i}")) for i in range(3)]
    try:
        site.wait_for(lambda: worker_numbers(site) == (3, 0, 0) and len(open_spill_files(site)) == 3, 60,
                      "3 downloads read ahead into spill files")
        readers[0].read_head()
        readers[0].read_exactly(2 * MIB)  # one leaves halfway through, the others before reading anything
        for reader in readers:
            reader.close()
        site.wait_for(lambda: not open_spill_files(site), 10, "no spill file left open after the clients left")
        assert site.get("/slow/whoami").status == 200
        site.wait_for(lambda: worker_numbers(site) == (4, 0, 0), 5, "the fourth request counted")
    finally:
        for reader in readers:
            reader.close()


def test_a_spill_file_takes_what_passes_response_buffer_max(make_site):
    site = make_site(site_config(response_buffer_max="64KiB"))
    size = 16 * MIB
    reader = SlowReader(site.port, get(f"/slow/download?size={size}"))
    try:
        site.wait_for(lambda: worker_numbers(site) == (1, 0, 0), 60, "the download read ahead")
        # Memory holds 64 KiB; socket buffers a few MiB at most; the file has the rest.
        assert sum(open_spill_files(site)) >= 8 * MIB
        status, headers = reader.read_head()
        assert status == 200 and int(headers["content-length"]) == size
        assert reader.body_sha(size) == download_sha(size)
        site.wait_for(lambda: not open_spill_files(site), 10, "the spill file closed once read")
    finally:
        reader.close()


def test_past_response_spill_max_the_worker_waits_for_the_client(make_site):
    site = make_site(site_config(response_buffer_max="256KiB", response_spill_max="1MiB"))
    size = 64 * MIB
    reader = SlowReader(site.port, get(f"/slow/download?size={size}"))
    try:
        readings: list[int] = []

        def stalled() -> bool:
            readings.append(site.get("/slow/progress").json()["sent"])
            return len(readings) > 10 and readings[-1] == readings[-10] > 0

        site.wait_for(stalled, 30, "the worker to stall on backpressure")
        assert readings[-1] < 16 * MIB  # the caps plus socket buffers, far from the 64 MiB it would send
        spilled = open_spill_files(site)
        assert len(spilled) == 1 and 0 < spilled[0] <= 2 * MIB  # the cap, give or take one read
        assert worker_numbers(site)[1:] == (1, 0)  # the slot stays taken until the client makes room
        status, _ = reader.read_head()
        assert status == 200 and reader.body_sha(size) == download_sha(size)
        site.wait_for(lambda: worker_numbers(site)[1] == 0 and not open_spill_files(site), 10,
                      "the slot released and the spill file closed")
    finally:
        reader.close()


def test_a_stream_is_read_ahead_of_a_slow_client_and_no_piece_waits(make_site):
    site = make_site(site_config(response_buffer_max="64KiB"))
    size = 16 * MIB
    reader = SlowReader(site.port, get(f"/slow/burst?size={size}&gate=g1"))
    try:
        # The worker writes the whole burst while the client reads nothing; the stream keeps its slot.
        site.wait_for(lambda: site.get("/slow/progress").json()["sent"] == size, 60, "the burst read ahead")
        assert worker_numbers(site)[1] == 1
        status, headers = reader.read_head()
        assert status == 200 and headers["content-type"] == "text/event-stream"
        assert headers["transfer-encoding"] == "chunked"
        body = bytearray()
        while not body.endswith(b"data: ready\n\n"):  # everything written so far arrives, gate still closed
            body += reader.next_chunk()
            assert len(body) <= size + len(b"data: ready\n\n")
        assert len(body) == size // 65536 * 65536 + len(b"data: ready\n\n")
        assert body.count(b"data: ") == size // 65536 + 1
        assert site.get("/slow/release?gate=g1").status == 200
        assert reader.next_chunk() == b"data: done\n\n"
        assert reader.next_chunk() == b""  # the last chunk
        site.wait_for(lambda: worker_numbers(site)[1] == 0, 10, "the stream's slot released")
    finally:
        reader.close()


def access_lines(site: Site, app: str = "slow") -> list[list[str]]:
    path = site.log_dir / app / "access.log"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_a_client_that_reads_nothing_for_send_timeout_is_dropped(make_site):
    site = make_site(site_config(send_timeout=1))
    size = 16 * MIB
    reader = SlowReader(site.port, get(f"/slow/download?size={size}"))
    try:
        site.wait_for(lambda: worker_numbers(site) == (1, 0, 0), 30, "the worker to finish the download")
        # The client still holds a spill file and its connection, until send_timeout passes with no progress.
        site.wait_for(lambda: not open_spill_files(site), 30, "the proxy to drop the client that reads nothing")
        site.wait_for(lambda: access_lines(site), 10, "its access.log line")
        [line] = access_lines(site)
        assert line[4] == "200" and 0 < int(line[5]) < size  # the status sent, and the bytes that left
        received = 0
        try:
            while chunk := reader.sock.recv(1 << 20):
                received += len(chunk)
        except ConnectionResetError:
            pass
        assert received < size
    finally:
        reader.close()
    assert site.get("/slow/whoami").status == 200


def test_a_request_whose_client_leaves_before_the_answer_is_logged_as_499(make_site):
    site = make_site(site_config())
    reader = SlowReader(site.port, get("/slow/slow?seconds=30"))
    site.wait_for(lambda: worker_numbers(site)[1] == 1, 20, "the request to reach the worker")
    # A reset, as a browser tab that is closed sends: a plain FIN is a half-close, and a half-closed client
    # may still read its answer.
    reader.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reader.close()
    site.wait_for(lambda: [line[4] for line in access_lines(site)] == ["499"], 10, "a 499 line in access.log")
