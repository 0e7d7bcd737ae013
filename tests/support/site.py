"""A real `pysupervise start` in a subprocess, on a free port, with helpers to talk to it and stop it."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, TypeVar

from tests.support.poll import wait_until

REPO = Path(__file__).resolve().parents[2]
TEST_APPS = REPO / "tests" / "apps"
T = TypeVar("T")
_LISTENING = re.compile(r"pysupervise listening on (http://\S+)")


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)

    def header_all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def proxy_section(**settings: str | int) -> str:
    """A `[proxy]` table of one front process (tests of one front's own limits) plus `settings`, as TOML."""
    lines = "\n".join(f"{key} = {json.dumps(value)}" for key, value in {"processes": 1, **settings}.items())
    return f"[proxy]\n{lines}\n"


def with_test_proxy_processes(config_text: str) -> str:
    """`PYSUPERVISE_TEST_PROXY_PROCESSES=N ./scripts/test.sh` runs every site with N front processes, unless its
    config names `processes` itself (a test of one front's own behaviour)."""
    count = os.environ.get("PYSUPERVISE_TEST_PROXY_PROCESSES")
    if not count or re.search(r"^\s*processes\s*=", config_text, re.MULTILINE):
        return config_text
    if re.search(r"^\s*\[proxy\]\s*$", config_text, re.MULTILINE):
        return re.sub(r"^(\s*\[proxy\]\s*)$", rf"\1\nprocesses = {int(count)}", config_text, count=1, flags=re.MULTILINE)
    return f"{config_text.rstrip()}\n\n[proxy]\nprocesses = {int(count)}\n"


@dataclass
class Site:
    """Writes supervisor.toml, starts the master, and always stops it (and its workers) in `stop`."""

    workdir: Path
    config_text: str
    # Put before every pysupervise command this site runs, e.g. ("ip", "netns", "exec", NAME) for a host
    # in a network namespace; it must exec the command, so that `process` is the master itself.
    command_prefix: tuple[str, ...] = ()
    process: subprocess.Popen | None = None
    url: str = ""
    output: list[str] = field(default_factory=list)
    _reader: threading.Thread | None = None

    def __post_init__(self) -> None:
        # Unix socket paths are limited to 107 bytes; pytest's tmp paths can be long, so keep run_dir short.
        self.run_dir = Path(tempfile.mkdtemp(prefix="ps-", dir="/tmp"))
        self.log_dir = self.workdir / "logs"
        self.config_path = self.workdir / "supervisor.toml"
        self.write_config(self.config_text)

    def write_config(self, text: str) -> None:
        header = textwrap.dedent(f"""
            [supervisor]
            run_dir = "{self.run_dir}"
            log_dir = "{self.log_dir}"
        """)
        body = text if "[supervisor]" in text else header + textwrap.dedent(text)
        body = with_test_proxy_processes(body)
        self.config_path.write_text(body.replace("{apps}", str(TEST_APPS)).replace("{repo}", str(REPO)))

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, timeout: float = 60, extra_args: tuple[str, ...] = (), env: dict | None = None,
              listen: str = "127.0.0.1:0") -> "Site":
        self.url = ""  # a site started again (after its master exited) announces its address anew
        self.process = subprocess.Popen(
            [*self.command_prefix, sys.executable, "-m", "pysupervise", "start", "-c", str(self.config_path),
             "--listen", listen, *extra_args],
            cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, **(env or {})})
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()
        wait_until(lambda: self.url or self.process.poll() is not None, timeout, "the master to start listening",
                   diagnostics=self.output_text)
        if not self.url:
            raise AssertionError(f"pysupervise exited with {self.process.returncode}:\n{self.output_text()}")
        return self

    def _read_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))
            match = _LISTENING.search(line)
            if match:
                self.url = match.group(1)

    def output_text(self) -> str:
        return "\n".join(self.output)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def host(self) -> str:
        return self.url.split("//", 1)[1].rsplit(":", 1)[0]

    def worker_pids(self) -> list[int]:
        try:
            return [w["pid"] for app in self.status()["apps"] for w in app["workers"] if w["pid"]]
        except Exception:
            return []

    def _group_leaders(self) -> list[int]:
        """Workers and the other front processes: each leads a process group of its own."""
        try:
            status = self.status()
        except Exception:
            return []
        fronts = [front["pid"] for front in status.get("proxy", {}).get("fronts", []) if front["pid"]]
        return [w["pid"] for app in status["apps"] for w in app["workers"] if w["pid"]] + fronts

    def proxy_pids(self) -> list[int]:
        """The master and its other front processes ([proxy] processes): every process that serves clients."""
        assert self.process is not None
        fronts = self.status().get("proxy", {}).get("fronts", [])
        return [self.process.pid, *(front["pid"] for front in fronts if front["pid"])]

    def stop(self, timeout: float = 30) -> None:
        """Graceful stop (SIGTERM), SIGKILL if it hangs; then make sure no worker outlived it."""
        if self.process is None:
            return
        pids = self._group_leaders() if self.process.poll() is None else []
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pid in pids:
            # Workers and fronts die with the master; this only guards the next test against a bug here.
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self._reader is not None:
            self._reader.join(timeout=5)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    # -- talking to it ------------------------------------------------------------------------

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 30, source: str | None = None) -> Response:
        """One request on a new connection; `source` picks the client's loopback address (e.g. 127.0.0.3)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        if source is not None:
            conn.sock = socket.create_connection((self.host, self.port), timeout=timeout, source_address=(source, 0))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            raw = conn.getresponse()
            return Response(raw.status, raw.getheaders(), raw.read())
        finally:
            conn.close()

    def get(self, path: str, **kwargs) -> Response:
        return self.request("GET", path, **kwargs)

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        command, rest = args[0], args[1:]
        return subprocess.run([*self.command_prefix, sys.executable, "-m", "pysupervise", command, "-c",
                               str(self.config_path), *rest], capture_output=True, text=True, timeout=timeout, cwd=self.workdir)

    def cli_on_terminal(self, *args: str, timeout: float = 30) -> tuple[int, bytes, str]:
        """A CLI command with its stdout on a pseudo-terminal (as a user's shell has it): exit code, what it
        printed there, its stderr."""
        command, rest = args[0], args[1:]
        controller, terminal = os.openpty()
        try:
            result = subprocess.run([sys.executable, "-m", "pysupervise", command, "-c", str(self.config_path), *rest],
                                    stdout=terminal, stderr=subprocess.PIPE, timeout=timeout, text=True,
                                    env={**os.environ, "TERM": "xterm", "NO_COLOR": ""})
            os.close(terminal)
            terminal = -1
            output = b""
            while True:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO once the terminal's other end is closed and drained
                    break
                if not chunk:
                    break
                output += chunk
            return result.returncode, output, result.stderr
        finally:
            os.close(controller)
            if terminal >= 0:
                os.close(terminal)

    def status(self) -> dict:
        result = self.cli("status", "--json")
        if result.returncode != 0:
            raise AssertionError(f"status failed: {result.stderr}")
        return json.loads(result.stdout)

    def app_status(self, app: str) -> dict:
        return next(a for a in self.status()["apps"] if a["app"] == app)

    def wait_for(self, predicate: Callable[[], T], timeout: float, what: str) -> T:
        return wait_until(predicate, timeout, what, diagnostics=self.output_text)


@contextmanager
def running_site(directory: Path, config: str) -> Iterator[Site]:
    """A started site on `config`, stopped when the block ends, whatever the test did."""
    site = Site(directory, config)
    try:
        yield site.start()
    finally:
        site.stop()
