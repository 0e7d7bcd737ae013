"""Running it like a service: daemon mode, pidfile, systemd notify and unit, worker header, CLI output (issue 9)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap

import psutil
import pytest

from tests.support.poll import wait_until
from tests.support.site import TEST_APPS

APP = f"""
[apps.web]
app = "web:create_app"
dir = "{TEST_APPS}"
route = "/"
workers = 2
"""


@pytest.fixture
def site_dir(tmp_path):
    """A config with a short run_dir and a free port; any master started on it is stopped afterwards."""
    import shutil
    import tempfile

    run_dir = tempfile.mkdtemp(prefix="ps-", dir="/tmp")
    (tmp_path / "supervisor.toml").write_text(textwrap.dedent(f"""
        [supervisor]
        listen = "127.0.0.1:0"
        run_dir = "{run_dir}"
        log_dir = "{tmp_path}/logs"
        """) + APP)
    yield tmp_path
    pidfile = os.path.join(run_dir, "pysupervise.pid")
    if os.path.exists(pidfile):
        pid = int(open(pidfile).read().strip() or 0)
        if pid and psutil.pid_exists(pid):
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not psutil.pid_exists(pid), 30, "the test's master to stop")
    shutil.rmtree(run_dir, ignore_errors=True)


def cli(folder, *args, timeout=60, **kwargs):
    return subprocess.run([sys.executable, "-m", "pysupervise", *args], cwd=folder, capture_output=True,
                          text=True, timeout=timeout, **kwargs)


def exited(pid: int) -> bool:
    """Gone, or a zombie its parent has not reaped yet."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_detach_status_json_stop_round_trip(site_dir):
    started = cli(site_dir, "start", "--detach")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "pysupervise listening on http://127.0.0.1:" in started.stdout
    assert "web: 2/2 workers ready" in started.stdout and "running in the background" in started.stdout
    status = json.loads(cli(site_dir, "status", "--json").stdout)
    master = status["pid"]
    assert psutil.pid_exists(master) and [w["state"] for w in status["apps"][0]["workers"]] == ["ready", "ready"]
    pidfile = [p for p in psutil.Process(master).open_files() if p.path.endswith("pysupervise.pid")]
    assert pidfile and open(pidfile[0].path).read().strip() == str(master)
    import urllib.request

    with urllib.request.urlopen(status["url"] + "/whoami", timeout=10) as response:
        assert json.loads(response.read())["app"] == "web"
    again = cli(site_dir, "start", "--detach")
    assert again.returncode == 1 and "already running" in again.stdout + again.stderr
    stopped = cli(site_dir, "stop")
    assert stopped.returncode == 0 and "stopped in" in stopped.stdout
    # `stop` returns once the master has exited: its pidfile is gone and its last line written.
    assert exited(master)
    assert not os.path.exists(pidfile[0].path)
    master_log = (site_dir / "logs" / "pysupervise.log").read_text()
    assert "pysupervise stopped" in master_log
    # Each line of the detached master's output carries the local time it was written, to the millisecond.
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} "
    assert all(re.match(stamp, line) for line in master_log.splitlines()), master_log
    assert re.search(f"^{stamp}pysupervise listening on http://127.0.0.1:", master_log, re.M)
    # So `pysupervise stop && pysupervise start` starts a new master at once.
    restarted = cli(site_dir, "start", "--detach")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert cli(site_dir, "stop").returncode == 0


def test_detach_reports_a_failure_with_exit_1(site_dir):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    try:
        config = site_dir / "supervisor.toml"
        config.write_text(config.read_text().replace("127.0.0.1:0", f"127.0.0.1:{blocker.getsockname()[1]}"))
        result = cli(site_dir, "start", "--detach")
        assert result.returncode == 1 and "cannot listen on" in result.stdout + result.stderr
    finally:
        blocker.close()


def test_stale_pidfile_is_replaced(site_dir):
    dead = subprocess.Popen(["true"])
    dead.wait()
    config = (site_dir / "supervisor.toml").read_text()
    run_dir = config.split('run_dir = "')[1].split('"')[0]
    with open(os.path.join(run_dir, "pysupervise.pid"), "w") as handle:
        handle.write(f"{dead.pid}\n")
    started = cli(site_dir, "start", "--detach")
    assert started.returncode == 0, started.stdout + started.stderr
    assert f"replaced a stale pidfile (pid {dead.pid} is not running)" in started.stdout
    assert cli(site_dir, "stop").returncode == 0


def test_systemd_notify_ready_watchdog_and_stopping(make_site, tmp_path):
    path = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(10)
    try:
        site = make_site(APP, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000"})
        messages: list[str] = []

        def received(text: str) -> bool:
            while not any(text in m for m in messages):
                messages.append(listener.recv(4096).decode())
            return True

        assert received("READY=1")
        ready = next(m for m in messages if "READY=1" in m)
        assert f"MAINPID={site.process.pid}" in ready and "STATUS=serving 1 of 1 apps" in ready
        assert any("workers ready" in m for m in messages)  # progress while starting
        assert received("WATCHDOG=1")
        site.process.send_signal(signal.SIGTERM)
        assert received("STOPPING=1")
        site.process.wait(30)
    finally:
        listener.close()


def test_systemd_unit_runs_this_site(site_dir):
    unit = cli(site_dir, "systemd-unit").stdout
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "ExecReload=/bin/kill -HUP $MAINPID" in unit
    assert f"ExecStart={sys.executable} -m pysupervise start -c {site_dir / 'supervisor.toml'}" in unit


def test_start_shows_progress_and_a_summary(make_site):
    site = make_site(APP)
    output = site.output_text()
    assert "starting app 'web': 2 worker(s)" in output
    assert "web: 1/2 workers ready" in output and "web: 2/2 workers ready" in output
    assert f"web  {site.url}/" in output and "/web/logs /web/status /web/debug/" in output
    assert f"admin index: {site.url}/_pysupervise/" in output


def test_worker_header_only_when_asked(make_site):
    plain = make_site(APP)
    assert plain.get("/whoami").header("X-Pysupervise-Worker") is None
    tagged = make_site(APP + "debug_header = true\n")
    response = tagged.get("/whoami")
    # <host_id>/<app>/<generation>/<slot>: the host part tells the hosts behind one balancer apart.
    worker = response.json()
    assert response.header("X-Pysupervise-Worker") == f"{worker['host']}/web/1/{worker['slot']}"


def test_status_table_is_coloured_on_a_terminal_only(make_site):
    site = make_site(APP)
    plain = site.cli("status").stdout
    assert "\x1b[" not in plain and "ready" in plain
    returncode, output, _ = site.cli_on_terminal("status")
    assert returncode == 0
    assert b"\x1b[32mready" in output


def test_detached_master_log_rotates_and_stays_bounded(site_dir):
    from pysupervise.logs.master_log import KEEP_FILES

    config = site_dir / "supervisor.toml"
    good = config.read_text().replace("[apps.web]", '[logs]\nmax_file_size = "2KiB"\n\n[apps.web]')
    config.write_text(good)
    started = cli(site_dir, "start", "--detach")
    assert started.returncode == 0, started.stdout + started.stderr
    logs = site_dir / "logs"
    master_log = logs / "pysupervise.log"
    # The master's own output: each broken save of supervisor.toml makes it print a line of about 1 KiB.
    for number in range(3 * KEEP_FILES):
        key = f"bogus_{number}_" + "k" * 600
        config.write_text(good + f"{key} = 1\n")
        wait_until(lambda key=key: key in master_log.read_text(), 20, f"the master's complaint #{number}")
    files = {p.name: p.stat().st_size for p in logs.iterdir() if p.name.startswith("pysupervise.log")}
    assert sorted(files) == ["pysupervise.log"] + [f"pysupervise.log.{n}" for n in range(1, KEEP_FILES + 1)]
    assert all(size <= 2048 for size in files.values()), files
    config.write_text(good)
    stopped = cli(site_dir, "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "pysupervise stopped" in master_log.read_text()
