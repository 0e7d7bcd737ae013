"""Shared pieces of the benchmarks: start pysupervise, nginx or bare workers, run wrk, take medians."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import psutil

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


def wait_for_http(port: int, path: str = "/", timeout: float = 60) -> None:
    """Until a request gets an answer (the port accepts connections before the apps are ready)."""
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"no successful HTTP answer on port {port} after {timeout} s")


def require(program: str, package: str) -> str:
    path = shutil.which(program) or (f"/usr/sbin/{program}" if os.path.exists(f"/usr/sbin/{program}") else None)
    if path is None:
        sys.exit(f"{program} is needed for this benchmark: apt-get install -y {package}")
    return path


def stop_process(process: subprocess.Popen, timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Pysupervise:
    """A pysupervise master hosting one app; `sockets` are its workers' Unix sockets (for nginx to share)."""

    port: int
    run_dir: Path
    process: subprocess.Popen

    def sockets(self, app: str) -> list[Path]:
        return sorted((self.run_dir / app).glob("*.sock"))


def bench_app(target: str, workers: int, extra: str = "") -> str:
    """supervisor.toml lines for the app "bench" on "/", served from this checkout."""
    return f"""
        [apps.bench]
        app = "{target}"
        dir = "{{repo}}"
        route = "/"
        # nginx and the floor proxy hold these workers' socket paths: no reload when the repo is edited.
        watch = []
        workers = {workers}
        {extra}
        """


@contextlib.contextmanager
def pysupervise_site(apps_toml: str, proxy_toml: str = "", own_session: bool = False,
                     repo: Path = REPO) -> Iterator[Pysupervise]:
    """A master serving `apps_toml`; `own_session`: as for nginx_in_front_of; `repo`: the checkout whose pysupervise
    (and apps) it runs, this one by default."""
    workdir = Path(tempfile.mkdtemp(prefix="psb-", dir="/tmp"))
    port = free_port()
    config = workdir / "supervisor.toml"
    config.write_text(textwrap.dedent(f"""
        [supervisor]
        listen = "127.0.0.1:{port}"
        run_dir = "{workdir}/run"
        log_dir = "{workdir}/logs"
        [proxy]
        {proxy_toml}
        """) + textwrap.dedent(apps_toml).replace("{repo}", str(repo)))
    # That checkout's pysupervise, installed or not.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([sys.executable, "-m", "pysupervise", "start", "-c", str(config)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=workdir, env=env,
                               start_new_session=own_session)
    try:
        wait_for_http(port)
        yield Pysupervise(port, workdir / "run", process)
    finally:
        stop_process(process)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def nginx_in_front_of(sockets: list[Path], worker_processes: str = "auto", own_session: bool = False,
                      keepalive_timeout: float = 75, worker_connections: int = 8192,
                      proxy_buffers: str = "") -> Iterator[int]:
    """nginx as a reverse proxy to the same worker sockets, with upstream keep-alive (its fast setup).

    `own_session`: started in a session of its own, as a service manager starts it; on Linux that also puts it
    in a scheduler autogroup of its own instead of wrk's (benchmarks/worker_cost.py shows why that matters).
    `proxy_buffers`: e.g. "8 64k" instead of nginx's default (8 buffers of a page), which moves a large body
    a page or two per read and write.
    """
    port = free_port()
    servers = "\n".join(f"        server unix:{s};" for s in sockets)
    http = f"""
        client_max_body_size 200m;
        keepalive_timeout {keepalive_timeout:g}s;
        upstream workers {{
    {servers}
            keepalive 256;
        }}
        server {{
            listen 127.0.0.1:{port} reuseport;
            location / {{
                proxy_pass http://workers;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_set_header Host $host;
                # What pysupervise tells every worker, as deployment guides (gunicorn's, uvicorn's) set it up:
                # the workers parse the same head behind either proxy.
                proxy_set_header X-Forwarded-For $remote_addr;
                proxy_set_header X-Forwarded-Proto $scheme;
                proxy_set_header X-Forwarded-Host $host;
                proxy_set_header X-Request-Id $request_id;
                {f"proxy_buffers {proxy_buffers};" if proxy_buffers else ""}
            }}
        }}
    """
    with running_nginx(port, http, own_session, worker_processes, worker_connections):
        yield port


@contextlib.contextmanager
def running_nginx(port: int, http: str, own_session: bool, worker_processes: str = "auto",
                  worker_connections: int = 8192) -> Iterator[None]:
    """Runs an nginx of its own (config, pid, logs and temp files in a fresh folder, removed afterwards) whose
    `http` block holds `http` after the settings every benchmark's nginx shares, until the block ends."""
    nginx = require("nginx", "nginx")
    prefix = Path(tempfile.mkdtemp(prefix="nginx-", dir="/tmp"))
    # As root, nginx workers would run as `nobody` and could not open the workers' sockets.
    user = "user root;" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(textwrap.dedent(f"""
        {user}
        worker_processes {worker_processes};
        error_log {prefix}/error.log;
        pid {prefix}/nginx.pid;
        events {{ worker_connections {worker_connections}; }}
        http {{
            # pysupervise writes an access log by default; nginx gets one too, buffered like ours.
            access_log {prefix}/access.log combined buffer=256k flush=1s;
            client_body_temp_path {prefix}/body;
            proxy_temp_path {prefix}/proxy;
            fastcgi_temp_path {prefix}/fastcgi;
            uwsgi_temp_path {prefix}/uwsgi;
            scgi_temp_path {prefix}/scgi;
    """) + textwrap.dedent(http) + "}\n")
    process = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=own_session)
    try:
        wait_for_port(port)
        yield
    finally:
        stop_process(process)
        shutil.rmtree(prefix, ignore_errors=True)


@contextlib.contextmanager
def _listening(command: list[str], port: int, cwd: Path | None = None, own_session: bool = False) -> Iterator[int]:
    """Run `command` until the block ends; yields `port` once something listens on it."""
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=own_session)
    try:
        wait_for_port(port)
        yield port
    finally:
        stop_process(process)


def floor_proxy_in_front_of(sockets: list[Path], pipeline: bool = False,
                            own_session: bool = False) -> contextlib.AbstractContextManager[int]:
    """benchmarks/floor_proxy.py: the cheapest possible uvloop proxy, as a reference point."""
    port = free_port()
    return _listening([sys.executable, str(REPO / "benchmarks" / "floor_proxy.py"), str(port),
                       *map(str, sockets), *(["--pipeline"] if pipeline else [])], port, own_session=own_session)


def direct_workers(app: str, workers: int) -> contextlib.AbstractContextManager[int]:
    port = free_port()
    return _listening([sys.executable, str(REPO / "benchmarks" / "direct_workers.py"), app,
                       "--port", str(port), "--workers", str(workers)], port, cwd=REPO)


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants as they are now (for CPU accounting over a whole server)."""
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def uvicorn_worker_class() -> str:
    """gunicorn's `-k` for uvicorn: the uvicorn-worker package when installed (uvicorn deprecates its own copy)."""
    return ("uvicorn_worker.UvicornWorker" if importlib.util.find_spec("uvicorn_worker")
            else "uvicorn.workers.UvicornWorker")


def _unix_http_answers(path: Path) -> bool:
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(5)
        sock.connect(str(path))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        status = sock.recv(64).split(b" ", 2)
        return len(status) > 1 and status[1].isdigit() and int(status[1]) < 500
    return False


@dataclass
class Gunicorn:
    """A gunicorn master with uvicorn workers (its children), listening on a Unix `socket` or a TCP `port`."""

    process: subprocess.Popen
    socket: Path | None
    port: int | None


@contextlib.contextmanager
def gunicorn_uvicorn(target: str, workers: int, unix_socket: bool, timeout: float = 60,
                     own_session: bool = False) -> Iterator[Gunicorn]:
    """`gunicorn -k UvicornWorker -w N` serving `target` ("module:attr", relative to this checkout), as users run it.

    No access log of its own: behind nginx, nginx writes it (as pysupervise's proxy does for its workers).
    `--keep-alive 75` outlives nginx's 60 s upstream keepalive_timeout, as gunicorn's docs advise behind a proxy;
    the default 2 s would close nginx's pooled connections whenever a round of another target runs.
    `own_session`: as for nginx_in_front_of.
    """
    workdir = Path(tempfile.mkdtemp(prefix="gunicorn-", dir="/tmp"))
    sock = workdir / "gunicorn.sock" if unix_socket else None
    port = None if unix_socket else free_port()
    bind = f"unix:{sock}" if sock else f"127.0.0.1:{port}"
    try:
        with (workdir / "stderr.log").open("wb") as stderr:  # gunicorn keeps its own copy of the descriptor
            process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-k", uvicorn_worker_class(),
                                        "-w", str(workers), "-b", bind, "--keep-alive", "75", target],
                                       cwd=REPO, stdout=subprocess.DEVNULL, stderr=stderr,
                                       start_new_session=own_session)
        try:
            deadline = time.monotonic() + timeout
            # Ready once every worker has forked and one of them answers.
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    tail = (workdir / "stderr.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"gunicorn ({bind}) did not start serving {target}:\n{tail}")
                if (len(psutil.Process(process.pid).children()) >= workers
                        and (_unix_http_answers(sock) if sock else _tcp_http_answers(port))):
                    break
                time.sleep(0.1)
            yield Gunicorn(process, sock, port)
        finally:
            stop_process(process)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _tcp_http_answers(port: int) -> bool:
    try:
        wait_for_http(port, timeout=0.5)
    except RuntimeError:
        return False
    return True


@dataclass(frozen=True)
class WrkResult:
    requests_per_second: float  # successful (2xx/3xx) responses only: a fast 502 is not throughput
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    if match is None:
        raise ValueError(f"unexpected wrk latency {text!r}")
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def wrk(port: int, path: str = "/", seconds: int = 5, connections: int = 64, threads: int = 1,
        script: Path | None = None) -> WrkResult:
    """`script`: a wrk Lua file (e.g. one that makes every request a POST with a body)."""
    binary = require("wrk", "wrk")
    extra = ["-s", str(script)] if script is not None else []
    out = subprocess.run([binary, f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", *extra,
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    try:
        return parse_wrk(out)
    except (AttributeError, ValueError) as exc:
        raise RuntimeError(f"cannot read wrk's output ({exc}):\n{out}") from None


def parse_wrk(out: str) -> WrkResult:
    total, seconds = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out).group(1, 2)
    unit = re.search(r"\d+ requests in [\d.]+(m?s)", out).group(1)
    elapsed = float(seconds) / (1000 if unit == "ms" else 1)
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    bad = int(non2xx.group(1)) if non2xx else 0
    return WrkResult((int(total) - bad) / elapsed, p50, p99, errors + bad)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
