"""Where the proxy is stricter than llhttp (and as strict as nginx), and the one place it is more lenient.

Every request here is sent as raw bytes, so the test controls exactly what the proxy parses.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import select
import socket

import pytest

from pysupervise.config.loader import parse_config
from pysupervise.periodic import TaskErrors
from pysupervise.proxy import AppBackend, ProxyServer, Route
from tests.support.poll import wait_until
from tests.support.raw_http import RawConnection
from tests.support.site import running_site

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
    with running_site(tmp_path_factory.mktemp("strict-http"), SITE.format(public=public)) as site:
        yield site


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


@pytest.mark.parametrize("endless", [b"0\r\nX-Flood: ", b"1;ext="], ids=["trailer field", "chunk extension"])
def test_chunked_framing_that_never_ends_is_refused(conn, endless):
    """httptools keeps a trailer field whole until it ends: without a bound, one endless field would grow the
    master's memory until body_timeout. Framing beyond max_header_size (64 KiB here) gets 400."""
    conn.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n" + endless)
    sent, most = 0, 8 * 1024 * 1024
    with contextlib.suppress(OSError):  # the proxy stops reading once it has refused
        while sent < most and not select.select([conn.sock], [], [], 0)[0]:
            conn.send(b"a" * 16384)
            sent += 16384
    status, headers, body = conn.read_response()
    assert status == 400 and b"framing" in body and headers["connection"] == ["close"]
    assert sent < most
    assert conn.is_closed()


def test_a_body_of_many_tiny_chunks_is_not_mistaken_for_a_framing_flood(conn):
    body = bytes(range(65, 91)) * 400  # 10 400 one-byte chunks: 5 framing bytes to each byte of body
    chunks = b"".join(b"1\r\n" + body[i:i + 1] + b"\r\n" for i in range(len(body)))
    conn.send(b"POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    status, _headers, echoed = conn.read_response()
    assert status == 200 and echoed == body


def test_more_header_fields_than_max_header_count_get_431(conn):
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(99))  # with Host: 100, the default max_header_count
    assert worker_headers(conn, b"GET /headers HTTP/1.1\r\nHost: a\r\n" + fields + b"\r\n")
    assert refused(conn, b"GET /headers HTTP/1.1\r\nHost: a\r\n" + fields + b"X-One-Too-Many: v\r\n\r\n") == 431


# -- raw bytes >= 0x80 in the request target ------------------------------------------------------

def test_raw_utf8_in_the_target_reaches_aiohttp_decoded(conn):
    conn.send(b"GET /paths/\xc3\xa0%20k?q=\xc3\xa9 HTTP/1.0\r\n\r\n")
    status, _, body = conn.read_response()
    seen = json.loads(body)
    assert status == 200 and seen["path"] == "/paths/à k" and seen["query"] == {"q": "é"}
    assert seen["raw_path"] == "/paths/%C3%A0%20k?q=%C3%A9"  # what the worker got: the same bytes, percent-encoded


@pytest.mark.parametrize("prefix", ["/asgi", "/wsgi"])
def test_raw_utf8_in_the_target_reaches_asgi_and_wsgi_decoded(conn, prefix):
    conn.send(f"GET {prefix}/".encode() + b"\xc3\xa0%20k HTTP/1.1\r\nHost: a\r\n\r\n")
    status, _, body = conn.read_response()
    path = json.loads(body)["path"]
    if prefix == "/wsgi":
        path = path.encode("latin-1").decode("utf-8")  # PEP 3333: PATH_INFO carries the bytes as latin-1
    assert status == 200 and path == f"{prefix}/à k"


def test_a_raw_byte_split_across_reads_and_headers_with_utf8_values(site):
    conn = RawConnection(site.port)
    try:
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for piece in (b"GET /paths/caf", b"\xc3", b"\xa9/x HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9", b"\r\n\r\n"):
            conn.send(piece)
        status, _, body = conn.read_response()
        seen = json.loads(body)
        assert status == 200 and seen["path"] == "/paths/café/x"
        assert ["X-Name", "café"] in seen["headers"]  # obs-text in a value passes as it came
    finally:
        conn.close()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_pipelined_after_a_non_ascii_body(conn, framing):
    body = bytes(range(256)) * 8 + b"\r\n\r\nGET /\xc3\xa0 HTTP/1.1\r\n\r\n"  # a body that looks like a head
    if framing == "chunked":
        framed = b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    else:
        framed = b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    conn.send(b"POST /echo HTTP/1.1\r\nHost: a\r\n" + framed + b"GET /paths/\xc3\xa0 HTTP/1.1\r\nHost: a\r\n\r\n")
    first, second = conn.read_response(), conn.read_response()
    assert first[0] == 200 and first[2] == body
    assert second[0] == 200 and json.loads(second[2])["path"] == "/paths/à"


def test_static_file_with_a_raw_utf8_name(conn):
    conn.send(b"GET /files/\xc3\xa0%20k.txt HTTP/1.1\r\nHost: a\r\n\r\n")
    status, _, body = conn.read_response()
    assert status == 200 and body == b"accented file"


def test_the_access_log_line_stays_one_escaped_line(site, conn):
    conn.send(b"GET /paths/\xc3\xa0%20k?marker=utf8-log HTTP/1.1\r\nHost: a\r\n\r\n")
    assert conn.read_response()[0] == 200
    log = site.log_dir / "paths" / "access.log"

    def line() -> list[str]:
        return [l for l in log.read_bytes().decode("ascii").splitlines() if "utf8-log" in l] if log.exists() else []

    fields = wait_until(line, 10, "the access log line")[0].split(" ")
    assert fields[3] == "/paths/\\xc3\\xa0%20k?marker=utf8-log" and fields[4] == "200"


@pytest.mark.parametrize("raw", [
    b"G\xc3\xa0T / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nX-\xc3\xa0: v\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.\xc3\r\nHost: a\r\n\r\n",
    b"GET http://\xc3\xa0.example/ HTTP/1.1\r\nHost: a\r\n\r\n",
])
def test_raw_bytes_outside_the_target_path_are_still_refused(conn, raw):
    assert refused(conn, raw) == 400


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


def test_a_bug_under_a_connection_drops_it_and_is_logged_once_a_minute_with_the_request_id(tmp_path, caplog):
    """An in-process proxy whose route target fails: the failure stands for any bug of ours under a connection."""

    started = []

    class BuggyApp(AppBackend):
        __slots__ = ()

        def new_exchange(self, client, request):
            started.append(request.url)
            raise RuntimeError("a bug in the proxy")

    async def scenario() -> list[bytes]:
        settings = parse_config('[apps.a]\napp = "m:a"\n', tmp_path / "supervisor.toml", "supervisor.toml").proxy
        server = ProxyServer(settings, str(tmp_path), errors)
        server.routes.replace([Route("/", BuggyApp("buggy", queue_limit=1, queue_timeout=1, upstream_timeout=1))])
        port = await server.start("127.0.0.1", 0)
        answers = []
        for _ in range(3):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n")
            try:
                answers.append(await reader.read())
            except ConnectionResetError:
                answers.append(b"")
            writer.close()
        await server.drain(1)
        return answers

    errors = TaskErrors(logging.getLogger("test.proxy-bugs"), clock=lambda: 1000.0)  # all within one minute
    with caplog.at_level(logging.ERROR, "test.proxy-bugs"):
        assert asyncio.run(scenario()) == [b""] * 3  # dropped, not answered "400 malformed request"
    assert errors.counts["proxy-connections"] == 3
    assert started == [b"/1"] * 3  # nothing more is started on a connection a bug dropped
    assert len(caplog.records) == 1 and caplog.records[0].exc_info
    assert re.search(r"proxy-connections: unexpected error in starting an exchange \(request [0-9a-f]+-1\): "
                     r"RuntimeError: a bug in the proxy", caplog.records[0].getMessage())
