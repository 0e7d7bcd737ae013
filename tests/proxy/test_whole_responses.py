"""A small response leaves the master whole or not at all (exchange.py, _HOLD_MAX).

A worker may write a response's head and its body apart. Were the head forwarded at once, a master killed
before the body would leave the client (a balancer, usually) holding a head: nginx cannot retry a request
elsewhere once it has a byte of the answer. Held until whole, the response is either all sent or not at all.
"""

from __future__ import annotations

import select
import socket
import sys

from tests.support.poll import wait_until
from tests.support.raw_http import RawConnection

SPLIT = """
[apps.split]
command = ["{python}", "split_server.py"]
dir = "{{apps}}"
route = "/split"
workers = 1
ready_path = false
env = {{ HEAD_READ_FILE = "{head_read}", GATE_FILE = "{gate}" }}
"""

BODY = b"split " * 200


def split_site(make_site, tmp_path):
    head_read, gate = tmp_path / "head-read", tmp_path / "gate"
    site = make_site(SPLIT.format(python=sys.executable, head_read=head_read, gate=gate))
    return site, head_read, gate


def nothing_to_read(sock: socket.socket) -> bool:
    readable, _, _ = select.select([sock], [], [], 0)  # not even an end of file
    return not readable


def request_until_the_head_is_read(site, head_read) -> RawConnection:
    """A connection whose request's worker has written the head and seen the proxy read it."""
    conn = RawConnection(site.port)
    conn.send(b"GET /split/ HTTP/1.1\r\nHost: t\r\n\r\n")
    wait_until(head_read.exists, 10, "the proxy to read the worker's head")
    return conn


def test_a_head_written_apart_from_its_body_is_sent_with_it(make_site, tmp_path):
    site, head_read, gate = split_site(make_site, tmp_path)
    conn = request_until_the_head_is_read(site, head_read)
    try:
        assert nothing_to_read(conn.sock), "the head left before its body"
        gate.touch()
        status, headers, body = conn.read_response()
        assert status == 200 and body == BODY
    finally:
        conn.close()


def test_a_master_killed_between_a_head_and_its_body_has_sent_nothing(make_site, tmp_path):
    site, head_read, _gate = split_site(make_site, tmp_path)
    conn = request_until_the_head_is_read(site, head_read)
    try:
        site.process.kill()
        site.process.wait(10)
        # Nothing at all: a balancer would send the GET to another host, not hand its client half an answer.
        try:
            received = conn.read_until_closed()
        except ConnectionResetError:
            # With processes = 2 the request may be in a front process, which dies with the master but may first
            # see its worker go (the workers die with the master too) and reset the client: still nothing sent.
            received = conn.buffer
        assert received == b""
    finally:
        conn.close()
