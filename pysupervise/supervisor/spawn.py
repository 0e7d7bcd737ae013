"""What a worker is started with: its command line and the environment of the worker contract."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pysupervise.config import AppConfig
from pysupervise.supervisor.interpreter import AppPython
from pysupervise.worker.parent_death import child_setup

# In `command` arguments: `{socket}`, and `$PORT` / `${PORT}` (and the same with PYSUPERVISE_SOCKET) as a shell
# would have expanded them. Only these exact tokens: other braces and dollars (JSON, format strings) stay as written.
_SOCKET_PLACEHOLDER = re.compile(r"\{socket\}|\$\{(?:PORT|PYSUPERVISE_SOCKET)\}|\$(?:PORT|PYSUPERVISE_SOCKET)(?!\w)")
# [apps.X] cpu_scheduling -> the Linux policy (none elsewhere: the workers keep the system's default).
_SCHEDULING_POLICIES = {"batch": getattr(os, "SCHED_BATCH", None), "normal": getattr(os, "SCHED_OTHER", None)}


@dataclass(frozen=True)
class SpawnSpec:
    argv: tuple[str, ...]
    env: dict[str, str] = field(hash=False)
    cwd: Path


def worker_setup(app: AppConfig, master_pid: int) -> Callable[[], None]:
    """A worker's `preexec_fn`: it dies with the master, and runs under the app's `cpu_scheduling` policy."""
    die_with_master = child_setup(master_pid)
    policy = _SCHEDULING_POLICIES[app.cpu_scheduling]

    def setup() -> None:
        die_with_master()
        if policy is not None:
            try:
                os.sched_setscheduler(0, policy, os.sched_param(0))
            except OSError:
                pass  # a sandbox that forbids it (seccomp): the worker runs under the policy it inherited

    return setup


def command_argv(command: tuple[str, ...], socket_path: str) -> tuple[str, ...]:
    """A `command` with the worker's socket path put where it asks for it: no shell needed."""
    return tuple(_SOCKET_PLACEHOLDER.sub(lambda _match: socket_path, arg) for arg in command)


def worker_argv(app: AppConfig, socket_path: Path, python: AppPython | None = None) -> tuple[str, ...]:
    if app.command is not None:
        return command_argv(app.command, str(socket_path))
    return (python.executable if python else sys.executable, "-m", "pysupervise.worker", app.app or "",
            "--interface", app.interface, "--threads", str(app.threads))


def spawn_spec(app: AppConfig, generation: int, slot: int, socket_path: Path,
               shared_env: dict[str, str], extra_env: dict[str, str] | None = None,
               python: AppPython | None = None) -> SpawnSpec:
    """The worker contract (DESIGN §3): PORT and PYSUPERVISE_* variables, then the app's own `env`.

    `python`: the app's own interpreter as checked when its generation started (`python = ...`)."""
    env = dict(os.environ)
    # A stray breakpoint() in app code would stop a worker with no terminal (BdbQuit); the debug
    # worker overrides this to reach the debugger instead.
    env["PYTHONBREAKPOINT"] = "0"
    env.update(shared_env)
    env.update({
        "PORT": str(socket_path),
        # The same path under a name that no server reads as a TCP port (gunicorn takes $PORT for one).
        "PYSUPERVISE_SOCKET": str(socket_path),
        # Both folders of an app with a staging folder are the same app (sessions, bus names); a swap keeps it.
        "PYSUPERVISE_APP": app.staging_of or app.name,
        "PYSUPERVISE_WORKER": str(slot),
        "PYSUPERVISE_GENERATION": str(generation),
        "PYSUPERVISE_MASTER_PID": str(os.getpid()),
        "PYSUPERVISE_GRACEFUL_TIMEOUT": str(app.graceful_timeout),
        # Unbuffered, so a line printed just before a crash reaches the log.
        "PYTHONUNBUFFERED": "1",
    })
    if app.command_script_name is not None:
        # gunicorn and other WSGI servers take their script name from here (the runtime does it for `app =`).
        # Only for one route: gunicorn refuses a request whose path does not start with SCRIPT_NAME.
        env["SCRIPT_NAME"] = app.command_script_name
    env.update(app.env_dict)
    env.update(extra_env or {})
    if python is not None:
        python.apply(env)
    return SpawnSpec(worker_argv(app, socket_path, python), env, app.dir)
