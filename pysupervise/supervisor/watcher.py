"""Watches app folders and the config file (watchfiles) and reports which apps a batch of saves concerns."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable

import watchfiles

from pysupervise.periodic import TaskErrors

TASK = "file-watcher"

# Folders whose contents never trigger a reload (caches, VCS data, virtualenvs, dependencies).
IGNORED_FOLDERS = frozenset({"__pycache__", ".git", ".hg", ".svn", ".venv", "venv", ".tox", ".nox",
                             ".mypy_cache", ".pytest_cache", ".ruff_cache", "node_modules", "site-packages",
                             ".pysupervise"})
# Saves closer together than this are one reload (watchfiles waits this long for quiet).
QUIET_MS = 200
# After the watcher itself fails (a watched folder removed, inotify limits), it starts again this much later.
RETRY_SECONDS = 2.0


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """`**/` spans folders, `*` and `?` stay within one path segment; matched against a relative path."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def forget_bytecode(paths: Iterable[Path]) -> None:
    """Delete cached bytecode of changed .py files before a reload imports them.

    A .pyc records its source's mtime in whole seconds and its size: a save of the same size
    within the same second as the last compile would otherwise load the old code.
    """
    for path in paths:
        if path.suffix != ".py":
            continue
        for cached in (path.parent / "__pycache__").glob(f"{path.stem}.*.pyc"):
            try:
                cached.unlink()
            except OSError:
                pass


@dataclass(frozen=True)
class WatchRule:
    """Changes under `root` matching one of `globs` concern `app`."""

    app: str
    root: Path
    globs: tuple[str, ...]
    excluded: tuple[Path, ...] = ()

    def matches(self, path: Path) -> bool:
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        if any(part in IGNORED_FOLDERS for part in relative.parts[:-1]):
            return False
        if any(path == ex or ex in path.parents for ex in self.excluded):
            return False
        text = relative.as_posix()
        return any(glob_regex(g).match(text) for g in self.globs)


class FileWatcher:
    """One watchfiles watcher over every app folder and the config file; replaced when the config changes."""

    def __init__(self, rules: Iterable[WatchRule], config_file: Path,
                 on_apps_changed: Callable[[dict[str, Path]], None],
                 on_config_changed: Callable[[], None], errors: TaskErrors | None = None) -> None:
        self.rules = tuple(rules)
        self._errors = errors or TaskErrors()
        self.config_file = config_file
        self._on_apps_changed = on_apps_changed
        self._on_config_changed = on_config_changed
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Start watching; returns once the watches are registered, so no later save is missed."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        # awatch registers every watch synchronously (RustNotify's constructor) before its first
        # suspension; a few loop turns get the task past that point.
        for _ in range(3):
            await asyncio.sleep(0)

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    def _roots(self) -> list[Path]:
        roots = {rule.root for rule in self.rules} | {self.config_file.parent}
        # Watching a folder and one of its subfolders twice would only duplicate events.
        return sorted(r for r in roots if not any(other != r and other in r.parents for other in roots))

    async def _run(self) -> None:
        self._errors.register(TASK)
        while not self._stop.is_set():
            try:
                async for changes in watchfiles.awatch(*self._roots(), stop_event=self._stop, step=QUIET_MS,
                                                       debounce=2000, recursive=True, raise_interrupt=False):
                    try:
                        self._dispatch({Path(path) for _change, path in changes})
                    except Exception as exc:  # one batch of saves, not the watching, went wrong
                        self._errors.report(TASK, exc)
            except Exception as exc:
                self._errors.report(TASK, exc, f"stopped (watching again in {RETRY_SECONDS:g} s; until then "
                                               "reload with `pysupervise reload` or SIGHUP)")
            try:
                await asyncio.wait_for(self._stop.wait(), RETRY_SECONDS)
            except asyncio.TimeoutError:
                pass

    def _dispatch(self, paths: set[Path]) -> None:
        forget_bytecode(paths)
        if self.config_file in paths:
            # Must not be awaited here: handling it may replace this very watcher.
            self._on_config_changed()
        concerned: dict[str, Path] = {}
        for path in sorted(paths):
            for rule in self.rules:
                if rule.app not in concerned and rule.matches(path):
                    concerned[rule.app] = path
        if concerned:
            self._on_apps_changed(concerned)
