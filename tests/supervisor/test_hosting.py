"""Foundation: apps of every kind hosted on per-core workers behind the proxy (issue 2)."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import socket
import sys

import psutil
import pytest

from tests.support.poll import wait_until
from tests.support.site import running_site

SITE = f"""
[apps.web]
app = "web:create_app"
dir = "{{apps}}"
route = "/web"
workers = 2
env = {{ PREFIX = "/web", GREETING = "hi", EMPTY = "" }}

[apps.single]
app = "web:create_app"
dir = "{{apps}}"
route = "/single"
workers = 1
env = {{ PREFIX = "/single" }}

[apps.four]
app = "web:application"
dir = "{{apps}}"
route = "/four"
workers = 4
env = {{ PREFIX = "/four" }}

[apps.factory]
app = "web:create_app_async"
dir = "{{apps}}"
route = "/factory"
workers = 1
env = {{ PREFIX = "/factory" }}

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

[apps.plain]
command = ["{sys.executable}", "plain_server.py"]
dir = "{{apps}}"
route = "/plain"
workers = 1
env = {{ MARKER = "from-config" }}
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("hosting"), SITE) as site:
        yield site


def test_hello_world_through_the_proxy(site):
    response = site.get("/web/whoami")
    assert response.status == 200
    body = response.json()
    assert body["app"] == "web" and body["generation"] == "1" and body["slot"] in ("0", "1")
    assert response.header("X-Request-Id")


def test_worker_contract_port_is_the_workers_unix_socket(site):
    body = site.get("/single/whoami").json()
    assert body["port"] == str(site.run_dir / "single" / "1-0.sock")


def test_sequential_requests_keep_state_in_one_worker(site):
    counts = [site.get("/single/count").json() for _ in range(5)]
    assert len({c["pid"] for c in counts}) == 1
    values = [c["count"] for c in counts]
    assert values == list(range(values[0], values[0] + 5))


def test_post_echo(site):
    payload = b"hello \x00 binary \xff body"
    response = site.request("POST", "/web/echo", body=payload, headers={"Content-Type": "application/octet-stream"})
    assert response.status == 200 and response.body == payload


def test_working_directory_is_the_app_dir(site):
    assert site.get("/web/file").body.startswith(b"contents of data.txt")


def test_app_env_reaches_the_worker_and_empty_value_is_defined(site):
    assert site.get("/web/env?name=GREETING").json() == {"defined": True, "value": "hi"}
    assert site.get("/web/env?name=EMPTY").json() == {"defined": True, "value": ""}
    assert site.get("/web/env?name=NOT_SET_ANYWHERE").json() == {"defined": False, "value": None}


def test_four_workers_answer_with_four_distinct_pids(site):
    pids: set[int] = set()

    def four_seen() -> bool:
        pids.add(site.get("/four/whoami").json()["pid"])
        return len(pids) == 4

    wait_until(four_seen, 20, "4 distinct worker pids")
    status = site.app_status("four")
    assert sorted(w["pid"] for w in status["workers"]) == sorted(pids)


@pytest.mark.parametrize("prefix, interface", [("/asgi", "asgi"), ("/wsgi", "wsgi"), ("/plain", "command")])
def test_each_interface_is_served(site, prefix, interface):
    body = site.get(prefix + "/some/path?x=1").json()
    assert body["interface"] == interface
    assert body["path"].startswith(prefix + "/some/path")


def test_asgi_and_wsgi_receive_request_bodies(site):
    assert site.request("POST", "/asgi/x", body=b"to-asgi").json()["body"] == "to-asgi"
    assert site.request("POST", "/wsgi/x", body=b"to-wsgi").json()["body"] == "to-wsgi"


def test_asgi_sees_the_real_client_address(site):
    assert site.get("/asgi/x").json()["client"][0] == "127.0.0.1"


def test_command_app_gets_its_env(site):
    assert site.get("/plain/").json()["argv_marker"] == "from-config"


def test_async_factory_app(site):
    assert site.get("/factory/whoami").json()["app"] == "factory"


def test_chunked_upload_reaches_the_worker_as_the_same_bytes(site):
    chunks = [os.urandom(1000), b"", os.urandom(70_000), b"tail"]
    expected = b"".join(chunks)
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=30)
    conn.request("POST", "/web/digest", body=iter(c for c in chunks if c), encode_chunked=True,
                 headers={"Transfer-Encoding": "chunked"})
    body = __import__("json").loads(conn.getresponse().read())
    conn.close()
    assert body["size"] == len(expected)
    assert body["sha256"] == hashlib.sha256(expected).hexdigest()
    # The proxy buffered the body, so the worker sees a plain Content-Length request.
    assert body["content_length"] == str(len(expected)) and body["transfer_encoding"] is None


def test_duplicate_and_empty_response_headers_reach_the_client(site):
    response = site.get("/web/dup")
    assert response.header_all("X-Dup") == ["one", "two"]
    assert response.header_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert response.header_all("X-Empty") == [""]


def test_duplicate_and_empty_request_headers_reach_the_worker(site):
    raw = (b"GET /web/headers HTTP/1.1\r\nHost: test\r\nX-Twice: 1\r\nX-Twice: 2\r\nX-Blank:\r\n"
           b"Connection: close\r\n\r\n")
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    body = __import__("json").loads(data.split(b"\r\n\r\n", 1)[1])
    headers = body["headers"]
    assert [v for k, v in headers if k == "X-Twice"] == ["1", "2"]
    assert ["X-Blank", ""] in headers
    assert ["X-Forwarded-For", "127.0.0.1"] in headers
    assert ["X-Forwarded-Proto", "http"] in headers
    assert ["X-Forwarded-Host", "test"] in headers


def test_30_megabyte_download(site):
    size = 30 * 1024 * 1024
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=60)
    conn.request("GET", f"/web/download?size={size}")
    response = conn.getresponse()
    sha, received = hashlib.sha256(), 0
    while chunk := response.read(1 << 20):
        sha.update(chunk)
        received += len(chunk)
    conn.close()
    block = bytes(range(256)) * 256
    expected = hashlib.sha256((block * (size // len(block) + 1))[:size]).hexdigest()
    assert response.status == 200 and received == size and sha.hexdigest() == expected


def test_31_megabyte_upload(site):
    payload = os.urandom(31 * 1024 * 1024)
    response = site.request("PUT", "/web/digest", body=payload, timeout=60)
    assert response.status == 200
    assert response.json() == {"size": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
                               "transfer_encoding": None, "content_length": str(len(payload))}


def test_no_route_is_404_and_not_a_worker(site):
    response = site.get("/nothing-here", headers={"Accept": "application/json"})
    assert response.status == 404
    assert response.json()["status"] == 404 and response.header("X-Request-Id")
    html = site.get("/nothing-here")
    assert html.status == 404 and html.header("Content-Type").startswith("text/html")
    assert b"<h1>404 Not Found</h1>" in html.body


def test_status_lists_every_worker(site):
    result = site.cli("status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["APP", "ROUTE", "GEN", "SLOT", "PID", "STATE", "UPTIME", "REQUESTS", "RSS"]
    status = site.status()
    expected = {"web": 2, "single": 1, "four": 4, "factory": 1, "asgi": 1, "wsgi": 1, "plain": 1}
    for app in status["apps"]:
        assert len(app["workers"]) == expected[app["app"]]
        for worker in app["workers"]:
            assert worker["state"] == "ready"
            assert psutil.pid_exists(worker["pid"])
            row = [line for line in lines if line.split()[:1] == [app["app"]] and f" {worker['pid']} " in line]
            assert len(row) == 1, f"no status row for {app['app']} pid {worker['pid']}:\n{result.stdout}"


def test_worker_output_is_captured_into_per_worker_files(site):
    site.get("/single/say?line=captured-line-42")
    app_logs = site.log_dir / "single"

    def line_in_a_stdout_file() -> bool:
        return any(b"captured-line-42" in p.read_bytes() for p in app_logs.glob("0-*-stdout-*.log"))

    wait_until(line_in_a_stdout_file, 10, "the printed line in the worker's stdout log")
    assert list(app_logs.glob("0-*-stderr-*.log")) and (app_logs / "events.log").exists()


# -- crashes and the master's death (each on its own site) ----------------------------------

ONE_APP = """
[apps.web]
app = "web:create_app"
dir = "{apps}"
route = "/"
workers = 2
"""


def test_killed_worker_is_replaced_and_later_requests_succeed(make_site):
    site = make_site(ONE_APP)
    before = {w["slot"]: w["pid"] for w in site.app_status("web")["workers"]}
    os.kill(before[0], signal.SIGKILL)

    def replaced() -> bool:
        workers = site.app_status("web")["workers"]
        slot0 = [w for w in workers if w["slot"] == 0]
        return bool(slot0) and slot0[0]["pid"] != before[0] and slot0[0]["state"] == "ready"

    site.wait_for(replaced, 20, "slot 0 to be replaced by a new worker")
    pids = {site.get("/whoami").json()["pid"] for _ in range(10)}
    assert before[0] not in pids
    assert all(site.get("/whoami").status == 200 for _ in range(10))
    events = (site.log_dir / "web" / "events.log").read_text()
    assert "worker-exited" in events and "killed by SIGKILL" in events


def test_in_flight_request_on_a_crashing_worker_gets_502(make_site):
    site = make_site(ONE_APP)
    response = site.request("POST", "/crash", headers={"Accept": "application/json"})
    assert response.status == 502
    body = response.json()
    assert "crashed" in body["detail"]
    # Loopback clients see the end of the worker's stderr (dev errors are on by default).
    site.wait_for(lambda: len(site.app_status("web")["workers"]) == 2 and all(
        w["state"] == "ready" for w in site.app_status("web")["workers"]), 20, "the crashed worker's replacement")
    assert site.get("/whoami").status == 200


def test_sigkilled_master_leaves_no_worker_behind(make_site):
    site = make_site(ONE_APP)
    pids = site.worker_pids()
    assert len(pids) == 2
    site.process.send_signal(signal.SIGKILL)
    site.process.wait(10)

    def all_gone() -> bool:
        return not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
                       for pid in pids)

    wait_until(all_gone, 10, f"workers {pids} to die with their master")


def test_graceful_stop_lets_a_request_in_flight_finish(make_site):
    site = make_site(ONE_APP)
    conn = http.client.HTTPConnection("127.0.0.1", site.port, timeout=30)
    conn.request("GET", "/slow?seconds=1.5")
    site.wait_for(lambda: any(w["in_flight"] for w in site.app_status("web")["workers"]), 10,
                  "the slow request to reach a worker")
    stop = site.cli("stop")
    response = conn.getresponse()
    assert response.status == 200 and response.read()
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert site.process.wait(10) == 0


def test_invalid_config_exits_2_naming_the_key(tmp_path):
    config = tmp_path / "supervisor.toml"
    config.write_text('[apps.frontend]\napp = "x:y"\nworkers = "x"\n')
    result = __import__("subprocess").run([sys.executable, "-m", "pysupervise", "start", "-c", str(config)],
                                          capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert result.returncode == 2
    assert f'{config}: apps.frontend.workers: expected a positive integer or "auto", got "x"' in result.stderr


def test_cli_without_a_running_master_says_so(tmp_path):
    config = tmp_path / "supervisor.toml"
    config.write_text(f'[supervisor]\nrun_dir = "{tmp_path}/run"\n[apps.a]\napp = "x:y"\n')
    result = __import__("subprocess").run([sys.executable, "-m", "pysupervise", "status", "-c", str(config)],
                                          capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "not running" in result.stderr


def test_python_dash_m_and_help_on_every_command():
    for command in ([], ["start"], ["stop"], ["status"], ["reload"]):
        result = __import__("subprocess").run([sys.executable, "-m", "pysupervise", *command, "--help"],
                                              capture_output=True, text=True, timeout=30)
        assert result.returncode == 0 and "usage: pysupervise" in result.stdout


def test_app_that_fails_to_import_is_reported_and_others_serve(make_site, tmp_path):
    broken = tmp_path / "broken_app"
    broken.mkdir()
    (broken / "broken.py").write_text("raise RuntimeError('the app is broken on purpose')\n")
    site = make_site(ONE_APP + f"""
[apps.broken]
app = "broken:app"
dir = "{broken}"
route = "/broken"
workers = 1
""")
    assert "app 'broken' failed to start" in site.output_text()
    assert "the app is broken on purpose" in site.output_text()
    assert site.get("/whoami").status == 200
    response = site.get("/broken/x", headers={"Accept": "application/json"})
    assert response.status == 503
    assert "the app is broken on purpose" in response.json()["worker_stderr"]
    assert site.app_status("broken")["state"] == "failed"
