"""Admin pages answer only to the site's own host names (DNS rebinding), and the admin token stays in the master.

A page on evil.example that re-points its DNS name at 127.0.0.1 turns the developer's browser into a
loopback client of pysupervise; its requests still say `Host: evil.example`. That is the attack replayed
here, through the real proxy, against the log pages, the status pages and the debugger's WebSocket.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import psutil
import pytest

from tests.debugger.support import debug_pid, debug_site

APP = f"""
[apps.web]
app = "web:create_app"
dir = "{{apps}}"
route = "/"
workers = 1

[apps.plain]
command = ["{sys.executable}", "plain_server.py"]
dir = "{{apps}}"
route = "/plain"
workers = 1
"""
ADMIN_PATHS = ["/web/logs", "/web/status", "/_pysupervise/", "/_pysupervise/metrics"]


def status_with_host(site, path: str, host: str, extra: str = "", source: str = "127.0.0.1") -> int:
    with socket.create_connection((site.host, site.port), timeout=10, source_address=(source, 0)) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n".encode())
        head = b""
        while b"\r\n" not in head and (chunk := sock.recv(4096)):
            head += chunk
    return int(head.split()[1])


def answer_with_host(site, path: str, host: str) -> bytes:
    """The whole answer (head and body) to a loopback client naming `host`."""
    with socket.create_connection((site.host, site.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "localhost.evil.example",
                                  "127.0.0.1.nip.io:{port}", "attacker"])
def test_a_rebound_name_gets_the_app_at_every_admin_url(make_site, host):
    # The app "web" at / owns these URLs for everyone who is not an admin client: its own 404 answers them.
    site = make_site(APP)
    named = host.format(port=site.port)
    for path in ADMIN_PATHS:
        answer = answer_with_host(site, path, named)
        assert answer.startswith(b"HTTP/1.1 404 ") and answer.endswith(b"\r\n\r\n404: Not Found"), (path, answer)
    assert status_with_host(site, "/whoami", named) == 200  # the app itself answers to any name


@pytest.mark.parametrize("host", ["localhost:{port}", "LOCALHOST", "127.0.0.1:{port}", "[::1]:{port}",
                                  "127.0.0.2", "site.example", "Site.Example.:{port}"])
def test_the_sites_own_names_get_the_admin_pages(make_site, host):
    site = make_site(APP + '\n[admin]\nhosts = ["site.example"]\n')
    named = host.format(port=site.port)
    assert [status_with_host(site, path, named) for path in ADMIN_PATHS] == [200] * len(ADMIN_PATHS)


def test_the_listen_host_name_is_one_of_the_sites_names(make_site):
    site = make_site(APP, listen="localhost:0")
    assert status_with_host(site, "/web/logs", f"localhost:{site.port}") == 200
    assert status_with_host(site, "/web/logs", "other.example") == 404


def test_a_rebound_page_cannot_open_the_debuggers_websocket(make_site, tmp_path):
    site, _source = debug_site(make_site, tmp_path, workers=1)
    upgrade = ("Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
    evil = f"evil.example:{site.port}"
    assert status_with_host(site, "/web/debug/ws", evil, upgrade + f"Origin: http://{evil}\r\n") == 404
    assert status_with_host(site, "/web/debug/", evil) == 404
    assert debug_pid(site) is None  # nothing was started for it
    own = f"127.0.0.1:{site.port}"
    assert status_with_host(site, "/web/debug/ws", own, upgrade + f"Origin: http://{own}\r\n") == 101


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode(errors="replace").partition("=")[::2] for item in raw.split(b"\0") if item)


def test_the_admin_token_is_not_in_any_workers_environment(make_site):
    site = make_site(APP + '\n[admin]\nallow = ["127.0.0.1"]\n', env={"PYSUPERVISE_ADMIN_TOKEN": "s3cret-token"})
    pids = site.worker_pids()
    assert len(pids) == 2
    for pid in pids:
        tree = [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
        for member in tree:
            assert "PYSUPERVISE_ADMIN_TOKEN" not in environ_of(member), member
    assert site.get("/plain/").json()["environ_token"] is None
    # The token still works for a client the address rule does not let in: the master kept it.
    assert status_with_host(site, "/web/logs", "localhost", source="127.0.0.3") == 404
    assert status_with_host(site, "/web/logs?token=s3cret-token", "localhost", source="127.0.0.3") == 303
