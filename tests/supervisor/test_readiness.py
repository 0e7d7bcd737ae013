"""A worker is ready when it answers HTTP (ready_path), not when its socket first accepts (issue 15)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support.frozen import frozen
from tests.support.poll import wait_until
from tests.support.site import Site

WSGI_APP = '''
VERSION = "{version}"


def app(environ, start_response):
    body = VERSION.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
'''

# Answers 500 until the file "ready-<version>.flag" exists in its folder; the test decides when.
FLAGGED_SERVER = '''
import os
from http.server import BaseHTTPRequestHandler
import socketserver

VERSION = "{version}"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if not os.path.exists(f"ready-{{VERSION}}.flag"):
            status, body = 500, b"not ready yet: warming the cache"
        else:
            status, body = 200, VERSION.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


with Server(os.environ["PORT"], Handler) as server:
    server.serve_forever()
'''


def events(site: Site, app: str = "live") -> str:
    return (site.log_dir / app / "events.log").read_text()


def generation(site: Site, app: str = "live") -> int | None:
    return site.app_status(app)["generation"]


class Requests:
    """GET / in a loop on a thread until stopped; keeps every (status, body)."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.answers: list[tuple[int, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Requests":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                response = self.site.get("/", timeout=30)
                self.answers.append((response.status, response.body))
            except OSError as exc:
                self.answers.append((0, repr(exc).encode()))


@pytest.fixture
def gunicorn_dir(tmp_path) -> Path:
    pytest.importorskip("gunicorn")
    folder = tmp_path / "gapp"
    folder.mkdir()
    (folder / "app.py").write_text(WSGI_APP.format(version="v1"))
    return folder


def test_gunicorn_save_with_a_syntax_error_never_serves(make_site, gunicorn_dir):
    # gunicorn (no --preload) binds its socket before a worker imports the app: accepting proves nothing.
    command = f"exec {sys.executable} -m gunicorn --bind unix:$PORT --workers 1 --graceful-timeout 3 app:app"
    site = make_site(f"""
        [apps.live]
        command = ["sh", "-c", "{command}"]
        dir = "{gunicorn_dir}"
        route = "/"
        workers = 2
        graceful_timeout = 3
        watch = ["*.py"]
        """)
    assert site.get("/").body == b"v1"
    with Requests(site) as load:
        wait_until(lambda: len(load.answers) > 5, 20, "requests to flow")
        (gunicorn_dir / "app.py").write_text(WSGI_APP.format(version="v2") + "\ndef broken(:\n")
        site.wait_for(lambda: site.app_status("live")["reloads_failed"] >= 1, 60, "the broken reload to fail")
        seen = len(load.answers)
        wait_until(lambda: len(load.answers) > seen + 5, 20, "requests after the failed reload")
    assert load.answers and set(load.answers) == {(200, b"v1")}, load.answers[-5:]
    status = site.app_status("live")
    assert status["state"] == "running" and status["generation"] == 1
    error = status["last_reload"]["error"]
    assert status["last_reload"]["ok"] is False and "GET /" in error and "readiness probe" in error, error
    assert "reload-aborted generation=2" in events(site)
    assert "readiness probe" in site.cli("status").stdout
    assert "reload-switched generation=2" not in events(site)

    (gunicorn_dir / "app.py").write_text(WSGI_APP.format(version="v3"))
    site.wait_for(lambda: generation(site) == 3, 60, "the fixed save to serve")
    assert site.get("/").body == b"v3"


@pytest.fixture
def flagged_dir(tmp_path) -> Path:
    folder = tmp_path / "flagged"
    folder.mkdir()
    (folder / "server.py").write_text(FLAGGED_SERVER.format(version="v1"))
    (folder / "ready-v1.flag").write_text("")
    return folder


def flagged_config(folder: Path, **settings: object) -> str:
    settings = {"workers": 2, "graceful_timeout": 3, "watch": '["*.py"]', **settings}
    lines = "\n        ".join(f"{key} = {value}" for key, value in settings.items())
    return f"""
        [apps.live]
        command = ["{sys.executable}", "server.py"]
        dir = "{folder}"
        route = "/"
        {lines}
        """


def test_generation_switches_only_once_ready_path_answers_below_500(make_site, flagged_dir):
    # No ready_path in the config: a `command` app is probed at "/".
    site = make_site(flagged_config(flagged_dir))
    assert site.get("/").body == b"v1"
    (flagged_dir / "server.py").write_text(FLAGGED_SERVER.format(version="v2"))
    site.wait_for(lambda: "worker-not-ready generation=2" in events(site), 30, "generation 2 to answer 500")
    not_ready = next(line for line in events(site).splitlines() if "worker-not-ready generation=2" in line)
    assert "GET /: 500: not ready yet: warming the cache" in not_ready
    # Listening, but answering 500: generation 1 keeps every request.
    assert generation(site) == 1
    assert {site.get("/").body for _ in range(10)} == {b"v1"}
    assert "reload-switched generation=2" not in events(site)

    (flagged_dir / "ready-v2.flag").write_text("")
    site.wait_for(lambda: generation(site) == 2, 30, "generation 2 to serve")
    assert site.get("/").body == b"v2"
    log = events(site)
    assert log.index("worker-not-ready generation=2") < log.index("reload-switched generation=2")
    assert "probe='GET /: 200'" in log


def test_ready_path_that_never_answers_fails_the_reload_with_its_answer(make_site, flagged_dir):
    site = make_site(flagged_config(flagged_dir, start_timeout=1, watch='["*.never"]', ready_path='"/health"'))
    (flagged_dir / "server.py").write_text(FLAGGED_SERVER.format(version="v2"))
    result = site.cli("reload", "live")
    assert result.returncode == 1
    assert "within 1 s (start_timeout, ready_path)" in result.stdout, result.stdout
    assert "GET /health: 500: not ready yet: warming the cache" in result.stdout
    status = site.app_status("live")
    assert status["generation"] == 1 and status["state"] == "running"
    assert "GET /health: 500: not ready yet" in status["last_reload"]["error"]
    assert "GET /health: 500: not ready yet" in site.cli("status").stdout
    log = events(site)
    assert "reload-aborted generation=2" in log and "worker-not-ready generation=2" in log
    assert site.get("/").body == b"v1"


def test_a_crash_restart_gets_traffic_only_once_ready(make_site, flagged_dir):
    site = make_site(flagged_config(flagged_dir, workers=1))
    first = site.app_status("live")["workers"][0]["pid"]
    (flagged_dir / "ready-v1.flag").unlink()
    os.kill(first, signal.SIGKILL)
    site.wait_for(lambda: "worker-not-ready generation=1" in events(site), 30, "the replacement to answer 500")
    # The replacement listens but is not ready: nothing routes to it (a request would wait in the queue).
    assert [w["state"] for w in site.app_status("live")["workers"]] == ["starting"]
    (flagged_dir / "ready-v1.flag").write_text("")
    assert site.get("/").body == b"v1"
    assert [w["state"] for w in site.app_status("live")["workers"]] == ["ready"]


def test_app_workers_without_ready_path_are_not_probed_and_with_one_are(make_site):
    site = make_site("""
        [apps.plain]
        app = "wsgi_app:app"
        dir = "{apps}"
        route = "/plain"
        workers = 1
        [apps.probed]
        app = "wsgi_app:app"
        dir = "{apps}"
        route = "/probed"
        workers = 1
        ready_path = "/probed/"
        """)
    assert site.get("/plain/").status == 200 and site.get("/probed/").status == 200
    plain, probed = events(site, "plain"), events(site, "probed")
    assert "worker-ready" in plain and "probe=" not in plain
    assert "probe='GET /probed/: " in probed and "worker-not-ready" not in probed


GATED = """
[apps.gated]
command = ["{python}", "gated_ready_server.py"]
dir = "{{apps}}"
route = "/"
workers = 1
ready_path = "/ready"
start_timeout = 3
watch = ["*.never"]
env = {{ PROBED_FILE = "{probed}", GATE_FILE = "{gate}" }}
"""


def test_a_readiness_answer_that_came_while_the_master_was_stopped_counts(make_site, tmp_path):
    """The master's own stall is not the new worker's: stopped while a readiness probe waits for its answer, it wakes
    past start_timeout with the probe's timeout due before it reads. The answer came, so the reload goes on."""
    probed, gate = tmp_path / "probed", tmp_path / "gate"
    gate.touch()
    site = make_site(GATED.format(python=sys.executable, probed=probed, gate=gate))
    gate.unlink()
    probed.unlink()
    outcome: list = []
    reload = threading.Thread(target=lambda: outcome.append(site.cli("reload", "gated")))
    reload.start()
    try:
        wait_until(probed.exists, 30, "the new worker's readiness probe")
        with frozen(site.process.pid):
            gate.touch()  # the worker answers the probe now
            time.sleep(4)  # the stall itself: past start_timeout (3 s) and the probe's own limit
    finally:
        reload.join(60)
    (result,) = outcome
    assert result.returncode == 0, result.stdout + result.stderr
    assert generation(site, "gated") == 2
    assert site.get("/").body == b"ok"
