"""Idle keep-alive connections are parked without a transport (proxy/client/parking.py) and behave as before."""

from __future__ import annotations

import json
import socket

import pytest

from tests.support.raw_http import RawConnection
from tests.support.site import Site

LIMIT = 6
# One front: max_connections is per front process, and these tests count on one front's table.
SITE = f"""
[proxy]
processes = 1
max_connections = {LIMIT}
keepalive_timeout = {{keepalive}}

[apps.web]
app = "web:create_app"
dir = "{{{{apps}}}}"
route = "/"
workers = 1
"""
# Parking happens after a second idle, at the sweeper's next pass.
PARKED_WITHIN = 10


def start_site(tmp_path, keepalive: int) -> Site:
    return Site(tmp_path, SITE.format(keepalive=keepalive)).start()


@pytest.fixture
def site(tmp_path):
    site = start_site(tmp_path, keepalive=75)
    try:
        yield site
    finally:
        site.stop()


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def served(conn: RawConnection, path: str) -> bool:
    conn.send(get(path))
    status, _headers, body = conn.read_response()
    return status == 200 and json.loads(body)["path"] == path


def proxy_facts(site: Site) -> dict:
    return site.status()["proxy"]


def test_parked_connections_serve_their_next_requests_and_close_without_waking(site):
    conns = [RawConnection(site.port) for _ in range(LIMIT - 1)]
    try:
        for round_number in range(2):
            for i, conn in enumerate(conns):
                assert served(conn, f"/whoami?{round_number}-{i}")
            site.wait_for(lambda: proxy_facts(site)["parked_connections"] == len(conns), PARKED_WITHIN,
                          "every idle connection parked")
        # A request sent whole and followed by a half-close wakes the connection and is answered.
        conns[0].send(get("/whoami?half-closed"))
        conns[0].sock.shutdown(socket.SHUT_WR)
        status, _headers, body = conns[0].read_response()
        assert status == 200 and json.loads(body)["path"] == "/whoami?half-closed"
        # Pipelined requests arriving on a parked connection are answered in order.
        conns[1].send(get("/whoami?p1") + get("/whoami?p2"))
        assert [json.loads(conns[1].read_response()[2])["path"] for _ in range(2)] == ["/whoami?p1", "/whoami?p2"]
    finally:
        for conn in conns:
            conn.close()
    site.wait_for(lambda: proxy_facts(site)["connections"] == 0, PARKED_WITHIN, "the closed connections forgotten")
    assert proxy_facts(site)["parked_connections"] == 0


def test_parked_connections_make_room_for_new_clients(site):
    idle = [RawConnection(site.port) for _ in range(LIMIT)]
    try:
        for i, conn in enumerate(idle):
            assert served(conn, f"/whoami?{i}")
        site.wait_for(lambda: proxy_facts(site)["parked_connections"] == LIMIT, PARKED_WITHIN, "all parked")
        newcomer = RawConnection(site.port, timeout=5)
        assert served(newcomer, "/whoami?newcomer")
        assert idle[0].is_closed(timeout=5)  # the oldest idle one gave up its slot
        for conn in idle[1:]:
            assert served(conn, "/whoami?again")
        newcomer.close()
    finally:
        for conn in idle:
            conn.close()


def test_parked_connections_still_close_at_keepalive_timeout(tmp_path):
    site = start_site(tmp_path, keepalive=3)
    try:
        conn = RawConnection(site.port)
        assert served(conn, "/whoami")
        site.wait_for(lambda: proxy_facts(site)["parked_connections"] == 1, PARKED_WITHIN, "the connection parked")
        assert conn.is_closed(timeout=10)
        site.wait_for(lambda: proxy_facts(site)["connections"] == 0, PARKED_WITHIN, "the connection forgotten")
        assert proxy_facts(site)["parked_connections"] == 0
        conn.close()
    finally:
        site.stop()
