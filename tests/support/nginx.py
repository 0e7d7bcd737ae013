"""A real nginx for one test, in the foreground, with its own config, pid file, logs and temp folders.

It never touches the system's nginx (/etc/nginx, port 80, /run/nginx.pid): everything lives in a fresh
folder under /tmp, and the process is ours to stop (a Popen handle, never a name).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path


class NginxError(RuntimeError):
    """nginx refused its config or did not start listening; the message has its error log."""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


@dataclass(frozen=True)
class AccessLine:
    """One request in the access log: the hosts tried for it, in order (more than one: nginx retried), its status."""

    upstreams: tuple[str, ...]
    status: int
    request: str  # "METHOD uri"

    @classmethod
    def parse(cls, line: str) -> AccessLine:
        # $upstream_addr separates the servers tried with ", " (and groups of internal redirects with " : ").
        words = line.split(" ")
        tried = words[:-3]
        upstreams = tuple(w.rstrip(",") for w in tried if w not in (":", "-") and w.rstrip(","))
        return cls(upstreams, int(words[-3]), " ".join(words[-2:]))


class Nginx:
    """nginx running `http_config` (what goes inside `http { }`, e.g. a conf.d file) in the foreground."""

    def __init__(self, http_config: str) -> None:
        binary = nginx_binary()
        if binary is None:
            raise NginxError("nginx is not installed: run ./scripts/test.sh (it installs it) or `apt-get install nginx`")
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="psnginx-", dir="/tmp"))
        self.dir.chmod(0o755)  # the workers (user nobody) create their temp files below it
        self.config_path = self.dir / "nginx.conf"
        self.error_log = self.dir / "error.log"
        self.access_log = self.dir / "access.log"
        self.config_path.write_text(self._main_config(http_config))
        self.process: subprocess.Popen[bytes] | None = None

    def _main_config(self, http_config: str) -> str:
        temp = {kind: self.dir / f"{kind}_temp" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")}
        return textwrap.dedent(f"""\
            worker_processes 1;
            pid {self.dir}/nginx.pid;
            error_log {self.error_log} info;
            events {{ worker_connections 1024; }}
            http {{
                # Which host answered (after retries, every host tried: "a:port, b:port") and how.
                log_format upstreams '$upstream_addr $status $request_method $request_uri';
                access_log {self.access_log} upstreams;
                client_body_temp_path {temp["client_body"]};
                proxy_temp_path {temp["proxy"]};
                fastcgi_temp_path {temp["fastcgi"]};
                uwsgi_temp_path {temp["uwsgi"]};
                scgi_temp_path {temp["scgi"]};
            """) + textwrap.indent(http_config, "    ") + "}\n"

    def check(self) -> None:
        """`nginx -t` on the config: a refused directive fails here with nginx's own words."""
        result = subprocess.run([self.binary, "-t", "-p", str(self.dir), "-c", str(self.config_path)],
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise NginxError(f"nginx -t refused {self.config_path}:\n{result.stderr}")

    def start(self, address: str, port: int, timeout: float = 15.0) -> Nginx:
        """Start it and wait until `address:port` (one of its `listen`s) accepts connections."""
        self.check()
        log = open(self.dir / "stderr.log", "ab")
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.dir), "-c", str(self.config_path), "-g", "daemon off;"],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection((address, port), timeout=1).close()
                return self
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = self.logs()
                self.stop()
                raise NginxError(f"nginx did not listen on {address}:{port}:\n{output}")
            time.sleep(0.02)

    def access_lines(self) -> list[AccessLine]:
        """Every request logged so far, oldest first."""
        if not self.access_log.exists():
            return []
        return [AccessLine.parse(line) for line in self.access_log.read_text(errors="replace").splitlines() if line]

    def logs(self) -> str:
        parts = []
        for path in (self.dir / "stderr.log", self.error_log):
            if path.exists():
                parts.append(f"--- {path.name}\n" + path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def stop(self) -> None:
        """Fast shutdown (SIGTERM to the master, which ends its workers); SIGKILL to the group if it hangs."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # its own group (start_new_session): master and workers
                process.wait()

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
