"""No orphans, ever: a worker's whole process tree dies with it and with the master (issue 15 point 4)."""

from __future__ import annotations

import signal
import socket
import sys

import psutil
import pytest

from tests.support.poll import wait_until

WRAPPED = f"""
[apps.wrapped]
command = ["sh", "wrapped_server.sh"]
dir = "{{apps}}"
route = "/"
workers = 2
graceful_timeout = 2
env = {{ PYTHON = "{sys.executable}" }}
"""


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def worker_trees(site, workers: int) -> list[psutil.Process]:
    """Every descendant of the master once each worker's shell has started its two grandchildren."""
    master = psutil.Process(site.process.pid)

    def complete():
        pids = site.worker_pids()
        trees = {pid: psutil.Process(pid).children(recursive=True) for pid in pids}
        return len(pids) == workers and all(len(children) == 2 for children in trees.values())

    wait_until(complete, 20, "each worker's shell to run the server and its helper")
    return master.children(recursive=True)


@pytest.fixture
def leftovers():
    """Processes a test records; whatever is still alive at the end is SIGKILLed by pid (psutil checks that the
    pid still names the same process)."""
    recorded: list[psutil.Process] = []
    yield recorded
    for proc in recorded:
        try:
            proc.kill()
        except psutil.Error:
            pass


def test_sigkilled_master_leaves_no_process_of_any_worker_tree(make_site, leftovers):
    site = make_site(WRAPPED)
    assert site.get("/").status == 200
    leftovers += worker_trees(site, 2)
    assert len(leftovers) >= 6  # 2 shells, 2 servers, 2 helpers (and the watchdog)
    site.process.send_signal(signal.SIGKILL)
    site.process.wait(10)
    wait_until(lambda: not any(alive(p) for p in leftovers), 15,
               f"every process of the worker trees {[p.pid for p in leftovers]} to die with their master")


def test_graceful_stop_leaves_no_process_of_any_worker_tree(make_site, leftovers):
    site = make_site(WRAPPED)
    leftovers += worker_trees(site, 2)
    stop = site.cli("stop")
    assert stop.returncode == 0 and "stopped" in stop.stdout
    assert site.process.wait(20) == 0
    still = [p.pid for p in leftovers if alive(p)]
    assert not still, f"processes {still} outlived the master's graceful stop"


def test_a_crashed_worker_takes_its_tree_with_it_and_is_replaced(make_site, leftovers):
    site = make_site(WRAPPED.replace("workers = 2", "workers = 1"))
    leftovers += worker_trees(site, 1)
    (shell_pid,) = site.worker_pids()
    shell = psutil.Process(shell_pid)
    grandchildren = shell.children(recursive=True)
    shell.kill()  # the worker itself dies; the server and the helper that ignores SIGTERM are left running
    wait_until(lambda: not any(alive(p) for p in grandchildren), 20,
               f"the crashed worker's grandchildren {[p.pid for p in grandchildren]} to be killed")
    site.wait_for(lambda: (lambda ws: len(ws) == 1 and ws[0]["state"] == "ready" and ws[0]["pid"] != shell_pid)(
        site.app_status("wrapped")["workers"]), 20, "the crashed worker's replacement")
    leftovers += worker_trees(site, 1)
    assert site.get("/").status == 200
    # The orphans were adopted by the master and waited for: no zombie children are left to it.
    master = psutil.Process(site.process.pid)
    wait_until(lambda: not [c for c in master.children() if c.status() == psutil.STATUS_ZOMBIE], 10,
               "the master to reap the orphans it adopted")
    orphans = site.status()["orphans"]
    assert orphans["subreaper"] and orphans["reaped"] >= 2 and orphans["watchdog_pid"]


def test_stale_sockets_of_a_killed_master_are_removed_at_start(make_site):
    site = make_site(WRAPPED.replace("workers = 2", "workers = 1"), start=False)
    app_dir = site.run_dir / "wrapped"
    app_dir.mkdir(parents=True)
    stale = [app_dir / "7-0.sock", app_dir / "7-1.3.sock"]
    for path in stale:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(path))
        sock.close()  # left behind, as a SIGKILLed worker leaves its socket
    not_ours = [app_dir / "notes.txt", app_dir / "8-0.sock", site.run_dir / "9-0.sock"]
    for path in not_ours[:2]:
        path.write_text("not a socket of ours")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(not_ours[2]))  # a socket, but not in an app's folder
    sock.close()
    site.start()
    assert site.get("/").status == 200
    assert [p for p in stale if p.exists()] == []
    assert all(p.exists() for p in not_ours)


def test_the_watchdog_outlives_nothing_and_holds_no_admin_token(make_site, leftovers):
    site = make_site(WRAPPED.replace("workers = 2", "workers = 1"), env={"PYSUPERVISE_ADMIN_TOKEN": "s3cret"})
    watchdog = psutil.Process(site.status()["orphans"]["watchdog_pid"])
    leftovers.append(watchdog)
    environ = open(f"/proc/{watchdog.pid}/environ", "rb").read()
    assert b"PYSUPERVISE_ADMIN_TOKEN" not in environ
    assert watchdog.ppid() == site.process.pid
    site.stop()
    wait_until(lambda: not alive(watchdog), 10, "the watchdog to exit after a graceful stop")


WITH_WORKERS = """
[apps.parent]
command = ["{python}", "server_with_workers.py"]
dir = "{{apps}}"
route = "/"
workers = 1
graceful_timeout = 5
env = {{ SIGNALS_FILE = "{signals}" }}
"""


def test_sigterm_goes_to_the_worker_alone_which_stops_its_own_children(make_site, tmp_path):
    """As systemd's KillMode=mixed: a server with workers of its own stops them itself, in order (granian exits 1
    when a SIGTERM of ours reaches its worker first). What is left once it exits gets SIGTERM, then SIGKILL."""
    signals = tmp_path / "signals"
    site = make_site(WITH_WORKERS.format(python=sys.executable, signals=signals))
    assert site.get("/").status == 200
    [leader] = site.worker_pids()

    reload = site.cli("reload", "parent")
    assert reload.returncode == 0, reload.stdout + reload.stderr
    site.wait_for(lambda: "worker-exited generation=1" in (site.log_dir / "parent" / "events.log").read_text(), 20,
                  "generation 1 to exit")
    events = (site.log_dir / "parent" / "events.log").read_text()
    assert "worker-exited generation=1 slot=0 pid=%d status='exit code 0'" % leader in events, events
    assert signals.read_text().split() == [str(leader)]  # from its parent, not from the master
