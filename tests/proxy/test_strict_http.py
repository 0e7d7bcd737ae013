"""Where the proxy is stricter than llhttp (and as strict as nginx), and the one place it is more lenient.

Every request here is sent as raw bytes, so the test controls exactly what the proxy parses.
"""

from __future__ import annotations

import json
import re
import socket

import pytest

from tests.support.poll import wait_until
from tests.support.raw_http import RawConnection
from tests.support.site import Site

SITE = """
[apps.web]
app = "web:create_app"
dir = "{{apps}}"
route = "/"
workers = 1

[apps.paths]
app = "paths_app:create_app"
dir = "{{apps}}"
route = "/paths"
workers = 1
static = {{ "/files" = "{public}" }}

[apps.asgi]
app = "asgi_app:app"
dir = "{{apps}}"
route = "/asgi"
workers = 1

[apps.wsgi]
app = "wsgi_app:app"
dir = "{{apps}}"
route = "/wsgi"
workers = 1
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    public = tmp_path_factory.mktemp("public")
    (public / "à k.txt").write_text("accented file")
    site = Site(tmp_path_factory.mktemp("strict-http"), SITE.format(public=public))
    try:
        yield site.start()
    finally:
        site.stop()


@pytest.fixture
def conn(site):
    connection = RawConnection(site.port)
    yield connection
    connection.close()


def refused(conn: RawConnection, raw: bytes) -> int:
    """Send a request the proxy must refuse; return its status after checking the connection closes."""
    conn.send(raw)
    status, headers, _ = conn.read_response()
    assert headers["connection"] == ["close"] and headers["x-request-id"]
    assert conn.is_closed()
    return status


def worker_headers(conn: RawConnection, raw: bytes) -> list[list[str]]:
    conn.send(raw)
    status, _, body = conn.read_response()
    assert status == 200, body
    return json.loads(body)["headers"]


# -- Host (RFC 9112 §3.2) -----------------------------------------------------------------------

@pytest.mark.parametrize("hosts", [
    [b"a.example", b"b.example"],
    [b"a.example", b"a.example"],
    [b"", b"evil.example"],  # an empty first Host must not let a second one through
])
def test_duplicate_host_headers_are_refused(conn, hosts):
    lines = b"".join(b"Host: " + host + b"\r\n" for host in hosts)
    assert refused(conn, b"GET /headers HTTP/1.1\r\n" + lines + b"\r\n") == 400


@pytest.mark.parametrize("host", [
    b"a.example/evil", b'a"b.example', b"a b.example", b"user@a.example", b"a.example:80x", b"a..example",
    b"[::1", b"", b"a.example\x00",
])
def test_hosts_that_are_not_a_uri_host_and_port_are_refused(conn, host):
    assert refused(conn, b"GET /headers HTTP/1.1\r\nHost: " + host + b"\r\n\r\n") == 400


@pytest.mark.parametrize("host", [b"a.example:8080", b"127.0.0.1", b"[::1]:8080", b"xn--bcher-kva.example", b"A-b_c~d"])
def test_valid_hosts_pass_unchanged(conn, host):
    headers = worker_headers(conn, b"GET /headers HTTP/1.1\r\nHost: " + host + b"\r\n\r\n")
    assert [v for k, v in headers if k.lower() == "host"] == [host.decode()]


def test_connection_cannot_strip_the_host_header(conn):
    headers = worker_headers(conn, b"GET /headers HTTP/1.1\r\nHost: kept.example\r\nConnection: keep-alive, Host, X-Hop\r\n"
                                   b"X-Hop: 1\r\n\r\n")
    names = [k.lower() for k, _ in headers]
    assert [v for k, v in headers if k.lower() == "host"] == ["kept.example"] and "x-hop" not in names


def test_absolute_form_host_drops_the_userinfo(conn):
    headers = worker_headers(conn, b"GET http://user:pass@example.com:8080/headers HTTP/1.1\r\nHost: ignored\r\n\r\n")
    assert [v for k, v in headers if k.lower() == "host"] == ["example.com:8080"]
    assert [v for k, v in headers if k == "X-Forwarded-Host"] == ["example.com:8080"]
    assert not any("pass" in v for _, v in headers)


@pytest.mark.parametrize("target", [b"http://a..example/headers", b"http://user@/headers", b"http:///headers"])
def test_absolute_form_authority_must_be_a_host(conn, target):
    assert refused(conn, b"GET " + target + b" HTTP/1.1\r\nHost: a\r\n\r\n") == 400


# -- versions and framing ---------------------------------------------------------------------

@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/0.9"])
def test_versions_other_than_1_0_and_1_1_get_505(conn, version):
    assert refused(conn, b"GET /whoami " + version + b"\r\nHost: a\r\n\r\n") == 505


def test_transfer_encoding_in_an_http10_request_is_refused(conn):
    raw = b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    assert refused(conn, raw) == 400


def test_trailer_fields_never_reach_the_app(conn):
    conn.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3\r\nabc\r\n0\r\nContent-Type: evil/x\r\nX-Trailer: t\r\n\r\n")
    status, headers, body = conn.read_response()  # /echo answers with the Content-Type it was sent
    assert status == 200 and body == b"abc"
    assert "evil" not in headers["content-type"][0]
    conn.send(b"GET /headers HTTP/1.1\r\nHost: a\r\n\r\n")  # and the connection is still in step
    assert conn.read_response()[0] == 200


# -- a worker crash with a request pipelined behind it ---------------------------------------------

CRASH_SITE = """
[apps.web]
app = "web:create_app"
dir = "{apps}"
route = "/"
workers = 2
"""


@pytest.mark.parametrize("first, answers", [
    (b"POST /crash HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", [502, 200]),  # keep-alive: the GET is served
    (b"POST /crash HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", [502]),
    (b"POST /crash HTTP/1.0\r\nContent-Length: 0\r\n\r\n", [502]),
], ids=["keep-alive", "connection-close", "http10"])
def test_a_502_with_a_request_pipelined_behind_it(make_site, first, answers):
    site = make_site(CRASH_SITE)
    before = {worker["pid"] for worker in site.app_status("web")["workers"]}
    conn = RawConnection(site.port)
    try:
        conn.send(first + b"GET /whoami HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")  # one packet
        data = conn.read_until_closed()  # after a lingering close nothing more is written
        assert [int(status) for status in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)] == answers
    finally:
        conn.close()

    def replaced() -> bool:  # the crashed worker's exit watcher did not die in the proxy's callback
        ready = {worker["pid"] for worker in site.app_status("web")["workers"] if worker["state"] == "ready"}
        return len(ready) == 2 and ready != before

    site.wait_for(replaced, 30, "the crashed worker's replacement")
    site.stop()
    assert "Traceback" not in site.output_text() and "write_eof" not in site.output_text(), site.output_text()
