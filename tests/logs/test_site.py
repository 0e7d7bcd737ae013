"""Logs end to end: worker output → rotating files → /<app>/logs through the proxy, and `pysupervise logs` (issue 5)."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.logs.printed import parse
from tests.support.poll import wait_until
from tests.support.site import Site

APP = """
[apps.web]
app = "web:create_app"
dir = "{apps}"
route = "/"
workers = 1
"""


def stdout_files(site: Site, app: str = "web") -> list:
    return sorted((site.log_dir / app).glob("*-stdout-*.log"))


def test_five_printed_lines_are_one_file_in_the_index_and_the_file_view(make_site):
    site = make_site(APP)
    for n in range(5):
        assert site.get(f"/say?line=line-{n}-<b>bold?</b>").status == 200
    files = stdout_files(site)
    assert len(files) == 1
    expected = "".join(f"line-{n}-<b>bold?</b>\n" for n in range(5))
    wait_until(lambda: files[0].read_text() == expected, 10, "the five lines in the file")
    index = site.get("/web/logs")
    assert index.status == 200 and files[0].name in index.body.decode()
    view = site.get(f"/web/logs/{files[0].name}").body.decode()
    for n in range(5):
        assert f"line-{n}-&lt;b&gt;bold?&lt;/b&gt;" in view
    assert "<b>bold?</b>" not in view
    ranged = site.get(f"/web/logs/raw/{files[0].name}", headers={"Range": "bytes=0-13"})
    assert ranged.status == 206 and ranged.body == expected.encode()[:14]
    apps = site.get("/_pysupervise/").body.decode()
    assert "/web/logs" in apps


def size_if_present(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def test_rotation_and_purge_keep_a_flooding_app_under_its_cap(make_site):
    site = make_site(APP + '\n[logs]\nmax_file_size = "256KiB"\nmax_total_size = "4MiB"\n')
    assert site.get("/flood?mb=50", timeout=120).body == b"flooded"
    folder = site.log_dir / "web"

    def settled() -> bool:
        return any(b"flood" in p.read_bytes()[-2000:] for p in stdout_files(site))

    wait_until(settled, 30, "the end of the flood in the newest file")
    worker_files = [p for p in folder.glob("*-std*-*.log")]
    # The purge may still remove a file between the listing and its stat: a removed file holds nothing.
    total = sum(size_if_present(p) for p in worker_files)
    assert total <= 4 * 1024 * 1024 + 256 * 1024
    assert len(worker_files) > 10  # it did roll over, many times
    assert site.get("/say?line=still-alive").status == 200


def test_one_kib_file_size_rolls_two_writes_into_two_files(make_site):
    site = make_site(APP + '\n[logs]\nmax_file_size = "1KiB"\n')
    for _ in range(2):
        site.get("/say?line=" + "k" * 1023)  # 1023 characters + newline = 1 KiB
    # The second file exists as soon as it is opened; its bytes follow a moment later.
    wait_until(lambda: [p.stat().st_size for p in stdout_files(site)] == [1024, 1024], 10, "two full 1 KiB files")


def test_live_tail_in_a_browser_shows_a_printed_line_within_a_second(make_site, page):
    site = make_site(APP)
    site.get("/say?line=first-line")
    name = wait_until(lambda: [p.name for p in stdout_files(site) if b"first-line" in p.read_bytes()], 10,
                      "the first line")[0]
    page.goto(f"{site.url}/web/logs/{name}")
    log = page.locator("pre.log")
    expect(log).to_contain_text("first-line")
    expect(page.locator("[data-tail-status]")).to_have_text("live", timeout=5000)
    site.get("/say?line=second-line-live")
    expect(log).to_contain_text("second-line-live", timeout=1000)


def _connect_from(source: str, host: str, port: int) -> http.client.HTTPConnection:
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.sock = socket.create_connection((host, port), timeout=10, source_address=(source, 0))
    return conn


def test_admin_pages_are_404_for_other_clients_unless_they_bring_the_token(make_site):
    config = APP + '\n[admin]\nallow = ["127.0.0.1"]\n'
    site = make_site(config, listen="127.0.0.2:0", env={"PYSUPERVISE_ADMIN_TOKEN": "s3cret-token"})
    stranger = _connect_from("127.0.0.3", site.host, site.port)
    stranger.request("GET", "/web/logs", headers={"X-Forwarded-For": "127.0.0.1"})
    denied = stranger.getresponse()
    denied.read()
    assert denied.status == 404
    stranger.request("GET", "/web/logs?token=wrong")
    wrong = stranger.getresponse()
    wrong.read()
    assert wrong.status == 404
    stranger.request("GET", "/web/logs?token=s3cret-token")
    granted = stranger.getresponse()
    granted.read()
    cookie = granted.getheader("Set-Cookie")
    assert granted.status in (302, 303) and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    stranger.request("GET", "/web/logs", headers={"Cookie": cookie.split(";")[0]})
    page = stranger.getresponse()
    assert page.status == 200 and b"web" in page.read()
    # The app itself is public: only the admin URLs are protected.
    stranger.request("GET", "/whoami")
    public = stranger.getresponse()
    public.read()
    assert public.status == 200


@pytest.mark.parametrize("path", ["/web/logs/../../../etc/passwd", "/web/logs/%2e%2e/%2e%2e/etc/passwd",
                                  "/web/logs/raw/..%2f..%2fevents.log", "/web/logs/raw/%2fetc%2fpasswd",
                                  "/web/logs/tail/..%2F..%2Fsupervisor.toml"])
def test_traversal_through_the_proxy_is_404(make_site, path):
    site = make_site(APP)
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 404")
    assert b"root:" not in data


def test_pysupervise_logs_prints_and_follows_a_live_worker(make_site):
    site = make_site(APP)
    site.get("/say?line=before-follow")
    site.wait_for(lambda: any(b"before-follow" in p.read_bytes() for p in stdout_files(site)), 10, "the line")
    printed = site.cli("logs", "web", "-n", "5")
    assert printed.returncode == 0, printed.stderr
    line = parse(printed.stdout.splitlines()[-1])
    assert (line.text, line.slot, line.stream, line.generation, line.old) == ("before-follow", 0, "stdout", "1", False)
    follower = subprocess.Popen([sys.executable, "-m", "pysupervise", "logs", "web", "-f", "-c",
                                 str(site.config_path)], stdout=subprocess.PIPE, text=True, cwd=site.workdir)
    lines: list[str] = []
    try:
        import threading

        reader = threading.Thread(target=lambda: lines.extend(iter(follower.stdout.readline, "")), daemon=True)
        reader.start()
        wait_until(lambda: any("before-follow" in line for line in lines), 10, "the follower's first lines")
        site.get("/say?line=while-following")
        wait_until(lambda: any(parse(line.rstrip("\n")).text == "while-following" for line in lines), 10,
                   "the followed line")
    finally:
        follower.terminate()
        follower.wait(10)
    missing = site.cli("logs", "nope")
    assert missing.returncode == 1 and "nope" in missing.stderr
