"""A sample app run alone (`python -m sample_apps...`) as a subprocess, with its output read line by line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from typing import Iterator

from contextlib import contextmanager

from tests.support.poll import wait_until
from tests.support.site import REPO


class AppProcess:
    """One `python -m MODULE ARGS...` in the repo; `stop` always ends it (SIGTERM, then SIGKILL)."""

    def __init__(self, module: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.output: list[str] = []
        self.process = subprocess.Popen([sys.executable, "-m", module, *args], cwd=REPO, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})})
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """The first output line matching pattern; fails with the output if the process exits or time runs out."""
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            for line in list(self.output):
                match = regex.search(line)
                if match:
                    return match
            if self.process.poll() is not None:
                raise AssertionError(f"exited with {self.process.returncode}")
            return None

        return wait_until(found, timeout, f"a line matching {pattern!r}", diagnostics=lambda: "\n".join(self.output))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=5)


@contextmanager
def running(module: str, *args: str, env: dict[str, str] | None = None) -> Iterator[AppProcess]:
    app = AppProcess(module, *args, env=env)
    try:
        yield app
    finally:
        app.stop()
