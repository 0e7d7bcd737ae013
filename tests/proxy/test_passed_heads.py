"""A whole response whose head needs nothing dropped or replaced reaches the client as its worker wrote it, with
the request id added (response_head.passable_head; issue 18: no parse, no rewrite). Any other goes the parser's
way, as before: each response here that the scan must leave to the parser gets what the parser makes of it."""

from __future__ import annotations

import json
import sys

import pytest

from pysupervise.proxy.response_head import SCANS_HEADS
from tests.support.raw_http import RawConnection

CANNED = {
    # Names in odd case, obs-text and a tab in values, Content-Length before other headers: all left as they are.
    "plain": "HTTP/1.1 200 Fine Thanks\r\ncontent-type: text/plain\r\nContent-LENGTH:  6 \r\n"
             "X-Odd:\tcaf\xe9 au lait\r\nDate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\nhello\n",
    "created": "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nLocation: /things/1\r\n\r\n",
    # For the parser: hop-by-hop headers, the worker's own request id, a head it would refuse, an extra byte.
    "closing": "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
    "keep-alive": "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok",
    "own-id": "HTTP/1.1 200 OK\r\nX-Request-Id: from-the-worker\r\nContent-Length: 2\r\n\r\nok",
    "two-lengths": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    "space-before-colon": "HTTP/1.1 200 OK\r\nX-Bad : value\r\nContent-Length: 2\r\n\r\nok",
    "folded": "HTTP/1.1 200 OK\r\nX-Folded: one\r\n two\r\nContent-Length: 2\r\n\r\nok",
    "bare-cr": "HTTP/1.1 200 OK\r\nX-Bad: a\rb\r\nContent-Length: 2\r\n\r\nok",
    "http10": "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "no-reason": "HTTP/1.1 200 \r\nContent-Length: 2\r\n\r\nok",
    "no-content": "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n",
}

SITE = """
[apps.canned]
command = ["{python}", "canned_server.py"]
dir = "{{apps}}"
route = "/canned"
workers = 1
ready_path = false
env = {{ CANNED_FILE = "{canned}" }}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from tests.support.site import running_site

    folder = tmp_path_factory.mktemp("passed")
    canned = folder / "canned.json"
    canned.write_text(json.dumps(CANNED))
    with running_site(folder, SITE.format(python=sys.executable, canned=canned)) as site:
        yield site


def exchange(conn: RawConnection, name: str) -> tuple[bytes, bytes]:
    """(head, body) of the answer to GET /canned/<name>, read to the end of its Content-Length."""
    conn.send(b"GET /canned/%s HTTP/1.1\r\nHost: test\r\n\r\n" % name.encode())
    _status, _headers, body = conn.read_response()
    return conn.last_head, body


@pytest.mark.skipif(not SCANS_HEADS, reason="the scan runs in the compiled build only; as Python, heads are rewritten")
def test_a_whole_response_is_passed_as_the_worker_wrote_it_with_the_request_id_added(conn):
    for _ in range(3):  # one client connection, one pooled worker connection
        head, body = exchange(conn, "plain")
        worker_head = CANNED["plain"].encode("latin-1").split(b"\r\n\r\n")[0]
        assert head.startswith(worker_head + b"\r\nX-Request-Id: "), head
        assert head.count(b"\r\n") == worker_head.count(b"\r\n") + 1, head  # nothing else added
        assert body == b"hello\n"
    head, body = exchange(conn, "created")
    assert head.startswith(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nLocation: /things/1\r\nX-Request-Id: ")
    assert body == b""


@pytest.mark.parametrize("name, status, body, missing, present", [
    ("closing", 200, b"ok", b"connection:", b""),
    ("keep-alive", 200, b"ok", b"keep-alive:", b""),
    ("own-id", 200, b"ok", b"", b"x-request-id: from-the-worker\r\n"),
    ("two-lengths", 502, None, b"", b""),
    ("space-before-colon", 502, None, b"", b""),
    ("folded", 502, None, b"", b""),
    ("bare-cr", 502, None, b"", b""),
    ("http10", 200, b"ok", b"", b"HTTP/1.1 200 OK\r\n"),
    ("no-reason", 200, b"ok", b"", b"HTTP/1.1 200 -\r\n"),
    ("no-content", 204, b"", b"", b""),
])
def test_what_the_scan_leaves_to_the_parser_gets_what_the_parser_makes_of_it(conn, name, status, body, missing,
                                                                              present):
    head, received = exchange(conn, name)
    assert head.split(b" ", 2)[1] == b"%d" % status, head
    if body is not None:
        assert received == body
    lowered = head.lower() + b"\r\n"
    assert not missing or missing not in lowered, head
    assert present.lower() in lowered, head
    assert lowered.count(b"x-request-id:") == 1, head
    # The client's connection is still good: the next answer is passed whole.
    head, received = exchange(conn, "plain")
    assert received == b"hello\n" and head.startswith(b"HTTP/1.1 200 Fine Thanks\r\n")


def test_a_client_that_asks_for_a_close_or_speaks_http10_gets_its_framing(conn, site):
    conn.send(b"GET /canned/plain HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
    data = conn.read_until_closed()
    assert b"\r\nConnection: close\r\n" in data and data.endswith(b"\r\n\r\nhello\n")
    http10 = RawConnection(site.port)
    try:
        http10.send(b"GET /canned/plain HTTP/1.0\r\nHost: test\r\nConnection: keep-alive\r\n\r\n")
        _status, headers, body = http10.read_response()
        assert headers["connection"] == ["keep-alive"] and body == b"hello\n"
    finally:
        http10.close()


class ParsedResponse:
    """What httptools' response parser makes of a response: its status, headers, body, and whether it ended."""

    def __init__(self) -> None:
        import httptools

        self.parser = httptools.HttpResponseParser(self)
        self.headers: list[tuple[bytes, bytes]] = []
        self.body = b""
        self.complete = self.keep_alive = False

    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()  # once the message is complete, it no longer says

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


MUTATION_BYTES = b"\x00\t\n\r \x7f\x80\xff:;,\"()/\\@[]{}=?aZ09-_"


def mutated(rng, wire: bytes) -> bytes:
    data = bytearray(wire)
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(data))
        action = rng.randrange(4)
        if action == 0:
            data[at] = rng.choice(MUTATION_BYTES)
        elif action == 1:
            data.insert(at, rng.choice(MUTATION_BYTES))
        elif action == 2:
            del data[at]
        else:
            data[at:at] = rng.choice([b"\r\nContent-Length: 2", b"\r\nConnection: close", b"\r\nTE: x", b"\r\n x"])
    return bytes(data)


def test_the_scan_passes_no_head_the_parser_would_read_otherwise():
    """Fuzzed: every response passable_head passes, httptools reads as one whole response of the same status and
    framing, with no header client_response_head drops or replaces; so the scan never passes what the parser's way
    would refuse or rewrite."""
    import random

    from pysupervise.proxy.response_head import passable_head

    rng = random.Random(20261206)
    seeds = [text.encode("latin-1") for text in CANNED.values()]
    passed = 0
    for _ in range(100_000):
        data = mutated(rng, rng.choice(seeds))
        head_end = passable_head(data)
        if head_end < 0:
            continue
        passed += 1
        parsed = ParsedResponse()
        parser = parsed.parser
        parser.feed_data(data)  # raises on anything it refuses
        names = {name for name, _value in parsed.headers}
        assert parsed.complete and 200 <= parser.get_status_code() < 600, data
        assert parser.get_status_code() not in (204, 304) and parser.get_http_version() == "1.1", data
        assert b"%d" % parser.get_status_code() == data[9:12], data
        assert parsed.body == data[head_end:], data
        assert not names & {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding", b"te",
                            b"trailer", b"upgrade", b"x-request-id"}, data
        assert [value for name, value in parsed.headers if name == b"content-length"] and parsed.keep_alive
    assert passed > 3000  # the mutations that leave a response passable are tried, not only refused ones
