"""HTTP/1.1 details of the front proxy, checked byte by byte over raw sockets (issue 2, proxy part)."""

from __future__ import annotations

import json
import socket

import pytest

from tests.support.site import running_site

SITE = """
[apps.web]
app = "web:create_app"
dir = "{apps}"
route = "/"
workers = 2

[apps.api]
app = "web:create_app"
dir = "{apps}"
route = "/api"
workers = 1
env = { PREFIX = "/api" }

[apps.wh]
app = "web:create_app"
dir = "{apps}"
route = "/wh"
workers = 1
env = { PREFIX = "/wh" }

[apps.other]
app = "web:create_app"
dir = "{apps}"
route = "/"
host = "other.example"
workers = 1
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("protocol"), SITE) as site:
        yield site


def get(path: str, host: str = "test", extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


def test_keep_alive_serves_several_requests_on_one_connection(conn):
    for _ in range(3):
        conn.send(get("/whoami"))
        status, headers, body = conn.read_response()
        assert status == 200 and json.loads(body)["app"] == "web"
        assert "connection" not in headers


def test_pipelined_requests_are_answered_in_order(conn):
    conn.send(get("/whoami?n=1") + get("/slow?seconds=0.3") + get("/whoami?n=3") + get("/api/whoami?n=4"))
    answers = [conn.read_response() for _ in range(4)]
    assert [a[0] for a in answers] == [200] * 4
    assert json.loads(answers[0][2])["path"] == "/whoami?n=1"
    assert json.loads(answers[1][2])["slept"] == 0.3
    assert json.loads(answers[2][2])["path"] == "/whoami?n=3"
    assert json.loads(answers[3][2])["app"] == "api"


def test_pipelined_answers_all_leave_before_a_close_asked_for_by_the_last(conn):
    # Small answers wait for the end of the proxy's loop pass (proxy/client/cork.py): the close must not cut them.
    conn.send(get("/whoami?n=1") + get("/whoami?n=2") + get("/whoami?n=3", extra="Connection: close\r\n"))
    answers = [conn.read_response() for _ in range(3)]
    assert [json.loads(body)["path"] for _, _, body in answers] == [f"/whoami?n={n}" for n in (1, 2, 3)]
    assert answers[2][1]["connection"] == ["close"]
    assert conn.is_closed()


def test_a_client_that_half_closes_after_its_requests_still_gets_every_answer(conn):
    # Request heads wait for the end of the proxy's pass (proxy/client/cork.py), the same pass that reads the
    # client's FIN: a half-close is not a client gone, so both requests still reach a worker and are answered.
    conn.send(get("/whoami?n=1") + get("/whoami?n=2"))
    conn.sock.shutdown(socket.SHUT_WR)
    data = conn.read_until_closed()
    assert data.count(b"HTTP/1.1 200 OK") == 2
    assert b'"path": "/whoami?n=1"' in data and b'"path": "/whoami?n=2"' in data


def test_http10_client_without_host_gets_a_closed_delimited_answer(conn):
    conn.send(b"GET /whoami HTTP/1.0\r\n\r\n")
    data = conn.read_until_closed()
    head, body = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" in head
    assert json.loads(body)["app"] == "web"


@pytest.mark.parametrize("keep_alive", [b"", b"Connection: keep-alive\r\n", b"Proxy-Connection: keep-alive\r\n"])
def test_http10_client_never_gets_chunked(conn, keep_alive):
    # Kept alive, an HTTP/1.0 request looks like an HTTP/1.1 one to llhttp's should_keep_alive: still 1.0.
    conn.send(b"GET /streamed?pieces=3 HTTP/1.0\r\n" + keep_alive + b"\r\n")
    data = conn.read_until_closed()
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"chunked" not in head.lower()
    assert body == b"piece-0\npiece-1\npiece-2\n"


def test_http10_keep_alive_is_honoured(conn):
    request = b"GET /whoami HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    conn.send(request)
    status, headers, _ = conn.read_response()
    assert status == 200 and headers["connection"] == ["keep-alive"]
    conn.send(request)
    assert conn.read_response()[0] == 200


def test_chunked_response_to_http11_client(conn):
    conn.send(get("/streamed?pieces=4"))
    status, headers, body = conn.read_response()
    assert headers["transfer-encoding"] == ["chunked"]
    assert body == b"".join(f"piece-{i}\n".encode() for i in range(4))


def test_head_has_no_body_and_the_connection_stays_usable(conn):
    conn.send("HEAD /whoami HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    status, headers, _ = conn.read_response(head_only=True)
    assert status == 200 and int(headers["content-length"][0]) > 0
    conn.send(get("/whoami?after=head"))
    status, _, body = conn.read_response()
    assert status == 200 and json.loads(body)["path"] == "/whoami?after=head"


@pytest.mark.parametrize("path, status", [("/no-content", 204), ("/not-modified", 304)])
def test_bodiless_statuses(conn, path, status):
    conn.send(get(path) + get("/whoami?after=empty"))
    assert conn.read_response()[0] == status
    second = conn.read_response()
    assert second[0] == 200 and json.loads(second[2])["path"] == "/whoami?after=empty"


def headers_seen_by_worker(conn, extra: str, path: str = "/headers") -> list[list[str]]:
    conn.send(get(path, extra=extra))
    status, response_headers, body = conn.read_response()
    assert status == 200
    return json.loads(body)["headers"]


def test_x_forwarded_for_is_the_proxys_decision_not_the_clients_list(conn):
    headers = headers_seen_by_worker(conn, "X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\n"
                                           "Forwarded: for=10.0.0.3\r\nX-Real-IP: 10.0.0.4\r\n")
    assert [v for k, v in headers if k == "X-Forwarded-For"] == ["127.0.0.1"]
    assert not [k for k, v in headers if k.lower() in ("forwarded", "x-real-ip")]


def test_forwarded_proto_and_host_are_the_proxys_own(conn):
    headers = headers_seen_by_worker(conn, "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\n")
    assert [v for k, v in headers if k == "X-Forwarded-Proto"] == ["http"]
    assert [v for k, v in headers if k == "X-Forwarded-Host"] == ["test"]


def test_sane_request_id_is_kept_both_ways(conn):
    conn.send(get("/headers", extra="X-Request-Id: trace-abc.123\r\n"))
    _, response_headers, body = conn.read_response()
    sent = [v for k, v in json.loads(body)["headers"] if k.lower() == "x-request-id"]
    assert sent == ["trace-abc.123"]
    assert response_headers["x-request-id"] == ["trace-abc.123"]


def test_insane_request_id_is_replaced(conn):
    conn.send(get("/headers", extra="X-Request-Id: has spaces and <html>\r\n"))
    _, response_headers, body = conn.read_response()
    sent = [v for k, v in json.loads(body)["headers"] if k.lower() == "x-request-id"]
    assert len(sent) == 1 and " " not in sent[0] and response_headers["x-request-id"] == sent


def test_hop_by_hop_headers_do_not_reach_the_worker(conn):
    headers = headers_seen_by_worker(conn, "Connection: keep-alive, X-Hop\r\nX-Hop: secret\r\nKeep-Alive: 5\r\n"
                                           "X-End-To-End: kept\r\n")
    names = [k.lower() for k, _ in headers]
    assert "x-hop" not in names and "keep-alive" not in names and "x-end-to-end" in names


def test_longest_prefix_wins_on_segment_boundaries(conn):
    conn.send(get("/wh/whoami") + get("/whoami"))
    first, second = (conn.read_response() for _ in range(2))
    assert json.loads(first[2])["app"] == "wh"
    assert json.loads(second[2])["app"] == "web"  # "/wh" matches whole segments only


def test_host_specific_route(conn):
    conn.send(get("/whoami", host="other.example:8080") + get("/whoami", host="OTHER.example"))
    assert json.loads(conn.read_response()[2])["app"] == "other"
    assert json.loads(conn.read_response()[2])["app"] == "other"


def test_absolute_form_request_target(conn):
    conn.send(b"GET http://other.example/whoami?abs=1 HTTP/1.1\r\nHost: ignored\r\n\r\n")
    body = json.loads(conn.read_response()[2])
    assert body["app"] == "other" and body["path"] == "/whoami?abs=1"


@pytest.mark.parametrize("raw, status", [
    (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabcd", 400),
    (b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", 400),
    (b"NOT HTTP AT ALL\r\n\r\n", 400),
    (b"GET /whoami HTTP/1.1\r\n\r\n", 400),
    (b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n", 405),
])
def test_bad_requests_get_an_answer_and_a_closed_connection(conn, raw, status):
    conn.send(raw)
    got, headers, _ = conn.read_response()
    assert got == status and headers["connection"] == ["close"] and headers["x-request-id"]
    assert conn.is_closed()


def test_bad_request_after_a_good_one_answers_the_good_one_first(conn):
    conn.send(get("/whoami?first") + b"GARBAGE\r\n\r\n")
    first = conn.read_response()
    assert first[0] == 200 and json.loads(first[2])["path"] == "/whoami?first"
    assert conn.read_response()[0] == 400
    assert conn.is_closed()
