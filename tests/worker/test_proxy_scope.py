"""Apps see what the proxy decided about a request: its client, its scheme and (ASGI) the prefix it matched.

The runtime applies X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Prefix itself (worker/proxy_scope.py for
ASGI, not uvicorn's proxy_headers; worker/proxied_request.py for aiohttp); these tests talk to a real worker's
socket as the proxy would.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from tests.support.poll import wait_until
from tests.support.site import REPO, TEST_APPS
from tests.worker.test_runtime_imports import get, listening

FROM_PROXY = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Prefix": "/mounted"}


@pytest.fixture
def asgi_worker() -> Iterator[str]:
    """`python -m pysupervise.worker asgi_app:app` on a socket of its own; yields the socket's path."""
    with worker_on_socket("asgi_app:app") as socket_path:
        yield socket_path


@pytest.fixture
def aiohttp_worker() -> Iterator[str]:
    """The aiohttp test app (tests/apps/web.py) served by the worker runtime on a socket of its own."""
    with worker_on_socket("web:create_app") as socket_path:
        yield socket_path


@contextlib.contextmanager
def worker_on_socket(app: str) -> Iterator[str]:
    """`python -m pysupervise.worker APP` from tests/apps, stopped when the block ends; yields its socket."""
    run_dir = Path(tempfile.mkdtemp(prefix="ps-", dir="/tmp"))
    socket_path = str(run_dir / "w.sock")
    env = {**os.environ, "PORT": socket_path, "PYTHONPATH": str(REPO)}
    env.pop("PYSUPERVISE_CONTROL_FD", None)
    worker = subprocess.Popen([sys.executable, "-m", "pysupervise.worker", app], cwd=TEST_APPS, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: listening(socket_path) or worker.poll() is not None, 30, "the worker to listen")
        assert worker.poll() is None, worker.communicate()[0]
        yield socket_path
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        try:
            worker.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.communicate()
        for path in run_dir.iterdir():
            path.unlink()
        run_dir.rmdir()


def websocket_first_message(socket_path: str, path: str, headers: dict[str, str]) -> dict:
    """Open a websocket on the worker's socket and return the first text message, as JSON."""
    key = base64.b64encode(os.urandom(16)).decode()
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(socket_path)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: worker\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{head}\r\n".encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data) < data.index(b"\r\n\r\n") + 6:
            chunk = sock.recv(65536)
            assert chunk, f"the worker closed the connection after {data!r}"
            data += chunk
        response, _, frames = data.partition(b"\r\n\r\n")
        assert response.split()[1] == b"101", response
        # A server's frame is unmasked: opcode byte, then a 7-bit length, or 126 and a 16-bit one.
        assert frames[0] & 0x0F == 1, frames[:2]
        length, start = frames[1] & 0x7F, 2
        if length == 126:
            length, start = int.from_bytes(frames[2:4], "big"), 4
        while len(frames) < start + length:
            frames += sock.recv(65536)
        return json.loads(frames[start:start + length])


def test_an_asgi_app_sees_the_client_scheme_and_prefix_the_proxy_sends(asgi_worker):
    status, seen = get(asgi_worker, "/mounted/a", FROM_PROXY)
    assert status == 200
    assert (seen["client"][0], seen["scheme"], seen["root_path"], seen["path"]) == \
        ("203.0.113.7", "https", "/mounted", "/mounted/a")


def test_without_forwarding_headers_the_scope_is_uvicorns_own(asgi_worker):
    status, seen = get(asgi_worker, "/a", {})
    assert status == 200
    assert (seen["scheme"], seen["root_path"]) == ("http", "")


def test_a_scheme_other_than_http_or_https_is_ignored(asgi_worker):
    assert get(asgi_worker, "/a", {"X-Forwarded-Proto": "gopher"})[1]["scheme"] == "http"


def test_a_websocket_behind_https_is_wss(asgi_worker):
    seen = websocket_first_message(asgi_worker, "/mounted/ws", FROM_PROXY)
    assert (seen["client"][0], seen["scheme"], seen["root_path"]) == ("203.0.113.7", "wss", "/mounted")


def test_an_aiohttp_app_sees_the_client_and_scheme_the_proxy_sends(aiohttp_worker):
    status, seen = get(aiohttp_worker, "/client", FROM_PROXY)
    assert status == 200
    assert seen == {"remote": "203.0.113.7", "scheme": "https", "secure": True}


def test_an_aiohttp_app_without_forwarding_headers_sees_its_own_socket(aiohttp_worker):
    status, seen = get(aiohttp_worker, "/client", {"X-Forwarded-Proto": "gopher"})
    assert status == 200
    # A Unix socket's peer has no address: aiohttp reports the empty string.
    assert (seen["remote"], seen["scheme"], seen["secure"]) == ("", "http", False)


def test_an_aiohttp_apps_own_clone_overrides_the_proxys_values(aiohttp_worker):
    status, seen = get(aiohttp_worker, "/client-cloned", FROM_PROXY)
    assert status == 200
    assert seen == {"remote": "198.51.100.9", "scheme": "https", "original": "203.0.113.7"}
