"""An app's checked interpreter, and the environment that lets its workers run pysupervise's runtime."""

from __future__ import annotations

import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from pysupervise.supervisor.interpreter.probe import InterpreterInfo, InterpreterUnusable, probe_interpreter
from pysupervise.supervisor.interpreter.runtime_links import build_runtime_links

# Read by pysupervise/worker/runtime_path.py (spelled twice: the worker imports nothing of the master's side).
FALLBACK_PATH_ENV = "PYSUPERVISE_FALLBACK_PATH"


@dataclass(frozen=True)
class AppPython:
    """`python = ...` of one generation, checked when it started."""

    info: InterpreterInfo
    # First on PYTHONPATH: a folder holding only a `pysupervise` link.
    package_dir: Path
    # Appended to sys.path by the worker runtime: the master's copies of the runtime's own packages.
    fallback_dirs: tuple[Path, ...]

    @property
    def executable(self) -> str:
        return self.info.executable

    def apply(self, env: dict[str, str]) -> None:
        """As if its venv were activated: its bin folder first on PATH (a `command`'s gunicorn or uvicorn is the
        venv's), VIRTUAL_ENV; and pysupervise importable (`-m pysupervise.worker`, the app's `pysupervise.bus`)."""
        bin_dir = os.path.dirname(self.executable)
        env["PATH"] = _prepend(bin_dir, env.get("PATH"))
        venv = os.path.dirname(bin_dir)
        if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
            env["VIRTUAL_ENV"] = venv
        else:
            env.pop("VIRTUAL_ENV", None)  # the master's own venv, if it was started from one, is not this one
        env["PYTHONPATH"] = _prepend(str(self.package_dir), env.get("PYTHONPATH"))
        env[FALLBACK_PATH_ENV] = os.pathsep.join(map(str, self.fallback_dirs))


async def prepare_app_python(executable: str, runtime_dir: Path) -> AppPython:
    """Check the interpreter (raises InterpreterUnusable) and refresh the runtime's link folders under `runtime_dir`."""
    info = await probe_interpreter(executable)
    try:
        links = build_runtime_links(runtime_dir)
    except OSError as exc:
        raise InterpreterUnusable(f"python = {executable!r}: cannot link pysupervise's runtime under "
                                  f"{runtime_dir}: {exc}") from None
    fallback = [links.pure]
    if (info.cache_tag, info.soabi) == (sys.implementation.cache_tag, sysconfig.get_config_var("SOABI")):
        # Extension modules load only into the Python they were built for.
        fallback.append(links.compiled)
    return AppPython(info, links.ours, tuple(fallback))


def _prepend(entry: str, path: str | None) -> str:
    return os.pathsep.join([entry, path]) if path else entry
