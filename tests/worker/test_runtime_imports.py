"""The worker runtime needs only what the app it serves needs (issue 16).

A worker may run under another interpreter whose venv holds the app's packages and nothing of the
master's: no aiohttp for a WSGI or ASGI app, no uvloop, no httptools. The worker here runs with those
three made unimportable, serves real requests, and still learns the prefix it is mounted at.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.poll import wait_until
from tests.support.site import REPO, TEST_APPS

HIDDEN = ("aiohttp", "uvloop", "httptools")
# `python -m pysupervise.worker`, with an import hook in front that hides HIDDEN as if never installed.
RUN_WORKER_WITHOUT = f"""
import runpy, sys

class Hidden:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {HIDDEN!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}} (hidden by the test)", name=name)
        return None

sys.meta_path.insert(0, Hidden())
for name in [m for m in sys.modules if m.partition(".")[0] in {HIDDEN!r}]:
    del sys.modules[name]
runpy.run_module("pysupervise.worker", run_name="__main__", alter_sys=True)
"""


def listening(socket_path: str) -> bool:
    """Whether a worker accepts on `socket_path`: the file appears at bind(), before listen() (a refused connect)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(socket_path)
        except (FileNotFoundError, ConnectionRefusedError):
            return False
    return True


def get(socket_path: str, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(socket_path)
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: worker\r\nConnection: close\r\n{head}\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        size, _, rest = body.partition(b"\r\n")
        body = rest[:int(size, 16)]
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("app, interface", [("wsgi_app:app", "wsgi"), ("asgi_app:app", "asgi")])
def test_a_worker_serves_without_aiohttp_uvloop_or_httptools(app, interface):
    run_dir = Path(tempfile.mkdtemp(prefix="ps-", dir="/tmp"))
    socket_path = str(run_dir / "w.sock")
    env = {**os.environ, "PORT": socket_path, "PYTHONPATH": str(REPO)}
    env.pop("PYSUPERVISE_CONTROL_FD", None)
    worker = subprocess.Popen([sys.executable, "-c", RUN_WORKER_WITHOUT, app], cwd=TEST_APPS, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: listening(socket_path) or worker.poll() is not None, 30, "the worker to listen")
        assert worker.poll() is None, worker.communicate()[0]
        status, seen = get(socket_path, "/mounted/a?x=1", {"X-Forwarded-Prefix": "/mounted"})
        assert status == 200 and seen["interface"] == interface
        if interface == "wsgi":
            assert (seen["script_name"], seen["path_info"]) == ("/mounted", "/a")
        else:
            assert (seen["root_path"], seen["path"]) == ("/mounted", "/mounted/a")
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
        try:
            output = worker.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            worker.kill()
            output = worker.communicate()[0]
        for path in run_dir.iterdir():
            path.unlink()
        run_dir.rmdir()
    assert "hidden by the test" not in output, output
