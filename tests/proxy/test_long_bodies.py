"""Content-Length response bodies longer than one read skip the response parser (upstream.py, _pass_body).

The worker (tests/apps/pieces_server.py) writes each response in three pieces, each only once the proxy has read
the one before, so the second and third arrive in reads that are all body: the ones passed on unparsed. The body
starts with the number of the worker connection it came on, which tells whether the proxy reused it.
"""

from __future__ import annotations

import importlib.util
import socket
import sys

import pytest

from tests.support.raw_http import RawConnection
from tests.support.site import REPO

BODY_SIZE = 300_000


def raw_app(name: str) -> str:
    """supervisor.toml for tests/apps/<name>_server.py as the `command` app `name` on /<name>, one worker."""
    return f"""
[apps.{name}]
command = ["{sys.executable}", "{name}_server.py"]
dir = "{{apps}}"
route = "/{name}"
workers = 1
ready_path = false
"""


def connection_of(answer: tuple[int, bytes]) -> int:
    """The worker connection a whole, well-formed answer came on (the worker counts its probes' connections too)."""
    status, body = answer
    number = int(body.split(b" ", 1)[0])
    assert status == 200 and body == (b"%d " % number).ljust(BODY_SIZE, b"x")
    return number


@pytest.fixture
def site(make_site):
    return make_site(raw_app("pieces"))


def get(conn: RawConnection, path: str) -> tuple[int, bytes]:
    conn.send(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % path.encode())
    status, _, body = conn.read_response()
    return status, body


def test_a_body_of_several_reads_arrives_whole_and_its_connection_serves_the_next(site):
    conn = RawConnection(site.port)
    try:
        numbers = [connection_of(get(conn, "/pieces/exact")) for _ in range(3)]
        # The same worker connection each time: the parser that fell behind was replaced at the body's end.
        assert numbers == numbers[:1] * 3
    finally:
        conn.close()


def test_bytes_past_a_content_length_are_dropped_and_so_is_the_connection(site):
    conn = RawConnection(site.port)
    try:
        first = connection_of(get(conn, "/pieces/overrun"))
        # The worker wrote past the response it framed: its connection is not trusted with another request.
        assert [connection_of(get(conn, "/pieces/exact")) for _ in range(2)] == [first + 1] * 2
    finally:
        conn.close()


def test_a_body_cut_after_reads_passed_unparsed_is_cut_for_the_client(site):
    conn = RawConnection(site.port)
    try:
        conn.send(b"GET /pieces/cut HTTP/1.1\r\nHost: t\r\n\r\n")
        with pytest.raises(ConnectionError):
            conn.read_response()  # the connection closes before the Content-Length is reached
        number = int(conn.buffer.split(b" ", 1)[0])
        assert conn.buffer == (b"%d " % number).ljust(BODY_SIZE, b"x")[:200_000]
    finally:
        conn.close()
    fresh = RawConnection(site.port)
    try:
        assert connection_of(get(fresh, "/pieces/exact")) == number + 1
    finally:
        fresh.close()


def test_a_client_that_reads_after_the_cut_still_gets_every_byte_the_worker_sent(site):
    # Its Content-Length tells the client the body is cut, so it gets all the worker sent and then a clean close, as
    # nginx does (a download resumes from there), not a reset that throws away what waited in the proxy for it.
    conn = RawConnection(site.port)
    conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # most of the body waits in the proxy
    try:
        conn.send(b"GET /pieces/cut HTTP/1.1\r\nHost: t\r\n\r\n")
        site.wait_for(lambda: site.app_status("pieces")["truncated_responses"] == {"worker-closed": 1}, 10,
                      "the proxy to see the worker's cut")
        conn.sock.settimeout(10)
        data = b""
        while chunk := conn.sock.recv(65536):  # a reset raises ConnectionResetError
            data += chunk
    finally:
        conn.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and b"Content-Length: %d" % BODY_SIZE in head
    assert len(body) == 200_000 and body.endswith(b"x" * 1000)


def framing_cases():
    """tests/apps/framing_cases.py, the module the worker answers from (tests/apps is not a package)."""
    spec = importlib.util.spec_from_file_location("framing_cases", REPO / "tests" / "apps" / "framing_cases.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_responses_framed_every_way_and_cut_anywhere_reach_the_client_whole_or_visibly_cut(make_site):
    # Content-Length and chunked bodies of 0 to 300 000 bytes, some cut short (bytes past a length: the tests above),
    # each written in up to four pieces that the proxy reads apart: a boundary anywhere, in the head or the body.
    cases = framing_cases()
    site = make_site(raw_app("framing"))
    for seed in range(150):
        expected = cases.case(seed)
        conn = RawConnection(site.port)
        try:
            conn.send(b"GET /framing/%d HTTP/1.1\r\nHost: t\r\n\r\n" % seed)
            try:
                status, _, body = conn.read_response()
            except ConnectionError:
                assert expected.body is None, f"case {seed}: a whole response was cut"
                continue
            if expected.body is None:
                assert status == 502, f"case {seed}: a cut response came whole ({status}, {len(body)} bytes)"
            else:
                assert (status, body) == (200, expected.body), f"case {seed}: {status}, {len(body)} bytes"
                assert not conn.buffer, f"case {seed}: bytes after the response"
        finally:
            conn.close()
    whole = next(seed for seed in range(1000) if cases.case(seed).body)
    check = RawConnection(site.port)
    try:
        check.send(b"GET /framing/%d HTTP/1.1\r\nHost: t\r\n\r\n" % whole)
        assert check.read_response()[2] == cases.case(whole).body
    finally:
        check.close()
