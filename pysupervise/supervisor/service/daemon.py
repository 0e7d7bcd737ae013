"""`pysupervise start --detach`: run the master in the background and report whether the site came up."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from pysupervise.logs.master_log import MasterLog

# One line each on the pipe from the daemon to the waiting `start --detach`.
_SAY, _READY, _FAILED = "say ", "ready ", "failed "


def run_detached(master_log: Path, run_master: Callable[[Callable[[str], None], Callable[[bool, str], None]], int],
                 echo: Callable[[str], None], max_file_size: int = 1024 * 1024) -> int:
    """Double-fork a daemon that runs `run_master(say, report)`; return 0 once it reports the site ready,
    1 when it reports (or dies with) a failure. `say` lines go to master_log (rotated past `max_file_size`)
    and back to us."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # first child: a new session, then fork again so the daemon has no terminal
        os.close(read_end)
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
        os._exit(_daemon(master_log, max_file_size, write_end, run_master))
    os.close(write_end)
    os.waitpid(child, 0)
    outcome = 1
    with os.fdopen(read_end, "r", encoding="utf-8", errors="replace") as pipe:
        for line in pipe:
            line = line.rstrip("\n")
            if line.startswith(_SAY):
                echo(line[len(_SAY):])
            elif line.startswith(_READY):
                outcome = 0
                echo(line[len(_READY):])
            elif line.startswith(_FAILED):
                outcome = 1
                echo("pysupervise: " + line[len(_FAILED):])
    return outcome


def _daemon(master_log: Path, max_file_size: int, pipe_fd: int, run_master: Callable) -> int:
    pipe = os.fdopen(pipe_fd, "w", buffering=1, encoding="utf-8")
    null_fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null_fd, 0)
    os.close(null_fd)
    try:
        # Rotated like the other logs, and a full disk drops lines instead of raising into the master.
        output = MasterLog(master_log, max_file_size, fds=(1, 2))
    except OSError as exc:
        pipe.write(f"{_FAILED}cannot write {master_log}: {exc.strerror or exc}\n")
        pipe.close()
        return 1
    sys.stdout = sys.stderr = output

    def tell(prefix: str, text: str) -> None:
        if pipe.closed:
            return
        try:
            for line in text.splitlines() or [""]:
                pipe.write(prefix + line + "\n")
        except OSError:
            pass  # the waiting `start` went away; the daemon carries on

    def say(line: str) -> None:
        print(line, flush=True)
        tell(_SAY, line)

    def report(ok: bool, text: str) -> None:
        tell(_READY if ok else _FAILED, text)
        pipe.close()  # the waiting `start` returns now

    try:
        code = run_master(say, report)
    except BaseException as exc:  # the waiting `start` must hear of any way the daemon ends early
        report(False, f"{type(exc).__name__}: {exc}")
        raise
    if not pipe.closed:
        report(False, "the master stopped before the site was ready")
    return code
