"""Asks an app's interpreter once what it is (version, bytecode tag, ABI) and refuses one too old for workers."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from dataclasses import dataclass

from pysupervise.worker.parent_death import child_setup

# pyproject.toml's requires-python: the worker runtime is written for it (keep the two in step).
MIN_PYTHON = (3, 11)
# A cold interpreter on a slow disk can take seconds to start; a wedged one must not hold the app's start forever.
PROBE_TIMEOUT = 15.0
# Written so that every Python since 2.7 answers it: a too-old one must reach the version check, not a SyntaxError.
_QUESTION = ("import json, sys, sysconfig; "
             "print(json.dumps({'version': list(sys.version_info[:3]), "
             "'cache_tag': getattr(getattr(sys, 'implementation', None), 'cache_tag', None), "
             "'soabi': sysconfig.get_config_var('SOABI'), 'prefix': sys.prefix}))")


class InterpreterUnusable(Exception):
    """The app's `python` cannot run workers; the message says why and names the key."""


@dataclass(frozen=True)
class InterpreterInfo:
    executable: str
    version: tuple[int, int, int]
    cache_tag: str | None
    soabi: str | None
    prefix: str

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


async def probe_interpreter(executable: str, timeout: float = PROBE_TIMEOUT) -> InterpreterInfo:
    """Run `executable -E -s -c ...` once; raises InterpreterUnusable naming `python = ...`."""
    named = f"python = {executable!r}"
    try:
        # Its own session, like everything the master starts: the reaper tells its own children from adopted
        # orphans by that.
        process = await asyncio.create_subprocess_exec(
            executable, "-E", "-s", "-c", _QUESTION, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=child_setup(os.getpid()))
    except OSError as exc:
        raise InterpreterUnusable(f"{named} cannot be started: {exc.strerror or exc}") from None
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout)
    except asyncio.TimeoutError:
        process.kill()
        await process.wait()
        raise InterpreterUnusable(f"{named} did not answer within {timeout:g} s when asked its version") from None
    try:
        answer = json.loads(out.decode("utf-8", "replace").strip().splitlines()[-1])
        version = tuple(int(part) for part in answer["version"])
        info = InterpreterInfo(executable, (version + (0, 0, 0))[:3], answer.get("cache_tag"), answer.get("soabi"),
                               str(answer.get("prefix")))
    except (IndexError, ValueError, KeyError, TypeError):
        said = (err or out).decode("utf-8", "replace").strip().splitlines()
        raise InterpreterUnusable(f"{named} does not answer like a Python interpreter (exit code "
                                  f"{process.returncode}): {said[-1] if said else 'no output'}") from None
    if info.version < MIN_PYTHON:
        raise InterpreterUnusable(f"{named} is Python {info.version_text}; pysupervise workers need "
                                  f"{'.'.join(map(str, MIN_PYTHON))} or newer")
    return info
