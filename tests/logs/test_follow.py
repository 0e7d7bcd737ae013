"""`pysupervise logs` reading: merged last lines with prefixes, then following new files and rollovers (issue 5 §5)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pysupervise.logs.app_logs import AppLogs
from pysupervise.logs.follow import app_log_lines
from tests.admin.support import log_settings
from tests.support.poll import wait_until

REPO = Path(__file__).resolve().parents[2]


def _age(path: Path, seconds_ago: float) -> None:
    """Set a file's last-write time, so 'which file was written last' does not depend on timing."""
    stamp = os.stat(path).st_mtime - seconds_ago
    os.utime(path, (stamp, stamp))


def test_the_last_lines_come_merged_with_slot_and_stream_prefixes(tmp_path):
    logs = AppLogs(tmp_path / "web", log_settings())
    out0, err0 = logs.open_stream(0, 10, "stdout"), logs.open_stream(0, 10, "stderr")
    out1 = logs.open_stream(1, 11, "stdout")
    out0.write(b"zero a\nzero b\nzero c\n")
    err0.write(b"boom 1\nboom 2\n")
    out1.write(b"one a\none b\n")
    _age(out0.path, 30)
    _age(err0.path, 20)
    _age(out1.path, 10)

    every = list(app_log_lines(tmp_path, "web", stderr_only=False, last=100, follow=False))
    assert every == ["[0 stdout] zero a", "[0 stdout] zero b", "[0 stdout] zero c",
                     "[0 stderr] boom 1", "[0 stderr] boom 2", "[1 stdout] one a", "[1 stdout] one b"]
    assert list(app_log_lines(tmp_path, "web", stderr_only=False, last=3, follow=False)) == \
        ["[0 stderr] boom 2", "[1 stdout] one a", "[1 stdout] one b"]
    assert list(app_log_lines(tmp_path, "web", stderr_only=True, last=1, follow=False)) == ["[0 stderr] boom 2"]
    assert list(app_log_lines(tmp_path, "web", stderr_only=False, last=0, follow=False)) == []


def test_rollover_parts_read_as_one_stream(tmp_path):
    logs = AppLogs(tmp_path / "web", log_settings(max_file_size=64))
    writer = logs.open_stream(3, 30, "stdout")
    lines = [b"line %02d ....................\n" % i for i in range(10)]  # 29 bytes: two per file
    for line in lines:
        writer.write(line)
    assert len(logs.files()) == 5
    got = list(app_log_lines(tmp_path, "web", stderr_only=False, last=4, follow=False))
    assert got == [f"[3 stdout] {line.decode().rstrip()}" for line in lines[-4:]]


def test_a_missing_app_folder_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        list(app_log_lines(tmp_path, "nope", stderr_only=False, last=10, follow=False))


class FollowProcess:
    """app_log_lines(..., follow=True) in a child process, as the CLI runs it; its lines are collected."""

    SCRIPT = ("import sys\nfrom pysupervise.logs.follow import app_log_lines\n"
              "for line in app_log_lines(sys.argv[1], 'web', stderr_only=sys.argv[2] == '1', last=int(sys.argv[3]),"
              " follow=True):\n"
              "    print(line, flush=True)\n"
              "print('clean end', flush=True)\n")

    def __init__(self, log_dir: Path, stderr_only: bool, last: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, str(log_dir), "1" if stderr_only else "0", str(last)],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, predicate, what: str) -> None:
        wait_until(lambda: predicate(self.lines), 10, what, diagnostics=lambda: repr(self.lines))

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        code = self.process.wait(10)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def test_follow_prints_new_lines_new_workers_and_rollovers(tmp_path):
    logs = AppLogs(tmp_path / "web", log_settings(max_file_size=100))
    first = logs.open_stream(0, 40, "stdout")
    first.write(b"before 1\nbefore 2\n")
    follow = FollowProcess(tmp_path, stderr_only=False, last=1)
    try:
        follow.wait_for(lambda got: got == ["[0 stdout] before 2"], "the last line first")
        first.write(b"after\n")
        follow.wait_for(lambda got: got[-1:] == ["[0 stdout] after"], "an appended line")
        second = logs.open_stream(1, 41, "stderr")
        second.write(b"a new worker's stderr\n")
        follow.wait_for(lambda got: "[1 stderr] a new worker's stderr" in got, "a new worker's file")
        first.write(b"x" * 60 + b" split ")  # 91 bytes in the file now; the line's end goes to the next file
        first.write(b"across files\n")
        assert first.path.name.endswith(".1.log")
        follow.wait_for(lambda got: f"[0 stdout] {'x' * 60} split across files" in got, "a line across a rollover")
    finally:
        follow.kill()


def test_follow_stops_cleanly_on_ctrl_c(tmp_path):
    logs = AppLogs(tmp_path / "web", log_settings())
    writer = logs.open_stream(0, 50, "stderr")
    logs.open_stream(0, 50, "stdout").write(b"not stderr\n")
    writer.write(b"already there\n")
    follow = FollowProcess(tmp_path, stderr_only=True, last=5)
    try:
        follow.wait_for(lambda got: got == ["[0 stderr] already there"], "the first line")
        writer.write(b"live one\n")
        follow.wait_for(lambda got: got[-1:] == ["[0 stderr] live one"], "the followed line")
        assert follow.interrupt() == 0
        assert follow.lines[-1] == "clean end"
        assert "Traceback" not in follow.process.stderr.read()
    finally:
        follow.kill()
