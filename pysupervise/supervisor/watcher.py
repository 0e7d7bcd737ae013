"""Watches app folders and the config file (watchfiles) and reports which apps a batch of saves concerns."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
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
# A file's ctime comes from the kernel's coarse clock (a tick, up to 10 ms, behind time.time()): a save in the gap
# between two watchers is looked for from this much before the old one stopped.
CTIME_SLACK = 0.1


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
        if not self._walked_into(path, relative.parts[:-1]):
            return False
        text = relative.as_posix()
        return any(glob_regex(g).match(text) for g in self.globs)

    def covers_folder(self, folder: Path) -> bool:
        """Whether `folders` would walk into `folder`."""
        try:
            relative = folder.relative_to(self.root)
        except ValueError:
            return False
        return self._walked_into(folder, relative.parts)

    def _walked_into(self, path: Path, folders: tuple[str, ...]) -> bool:
        """Whether `path` is not excluded, and none of the `folders` it lies in under `root` is an ignored one."""
        if any(part in IGNORED_FOLDERS for part in folders):
            return False
        return not any(path == ex or ex in path.parents for ex in self.excluded)

    def folders(self) -> list[Path]:
        """`root` and every folder under it that a save of the app's can be in: not one of IGNORED_FOLDERS, not
        `excluded`. Each is watched on its own (not recursively), so a .venv or node_modules costs no inotify watch
        and no event. Symlinked folders are followed, each real folder once. A missing root is returned as it is:
        watching it fails, says why, and is tried again. An app that watches nothing (`watch = []`) has none."""
        if not self.globs:
            return []
        if not self.root.is_dir():
            return [self.root]
        excluded = set(self.excluded)
        found: list[Path] = []
        seen: set[tuple[int, int]] = set()
        waiting = [self.root]
        while waiting:
            folder = waiting.pop()
            try:
                info = folder.stat()
                if (info.st_dev, info.st_ino) in seen:
                    continue
                seen.add((info.st_dev, info.st_ino))
                with os.scandir(folder) as entries:
                    inner = [folder / e.name for e in entries if e.name not in IGNORED_FOLDERS and _is_folder(e)]
            except OSError:  # gone since, or unreadable: nothing in it to watch
                continue
            found.append(folder)
            waiting += [path for path in inner if path not in excluded]
        return found


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def unseen_saves(folders: list[Path], watched: set[Path], since: float) -> set[Path]:
    """What a new round of watching `folders` looks for once its watches are registered: every file of a folder the
    round before did not watch, and in the others the files changed since that round stopped seeing."""
    return files_in([f for f in folders if f not in watched]) | files_in([f for f in folders if f in watched], since)


def files_in(folders: Iterable[Path], changed_since: float | None = None) -> set[Path]:
    """The files directly in `folders` (changed at `changed_since` or later, when given)."""
    found = set()
    for folder in folders:
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.is_file() and (changed_since is None or entry.stat().st_ctime >= changed_since):
                        found.add(Path(entry.path))
        except OSError:
            continue
    return found


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
        self._registered = asyncio.Event()
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Start watching; returns once the watches are registered (or failed to be), so no later save is missed."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        await self._registered.wait()

    async def close(self) -> None:
        self._stop.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    def _folders(self) -> list[Path]:
        # The config file's own folder, not what is under it: only the file itself is a config change.
        folders = {self.config_file.parent}
        for rule in self.rules:
            folders.update(rule.folders())
        return sorted(folders)

    def _wants(self, folder: Path) -> bool:
        """Whether a folder that appeared belongs in the watch (is in an app's tree, not ignored nor excluded)."""
        return folder.name not in IGNORED_FOLDERS and os.path.isdir(folder) and any(
            rule.covers_folder(folder) for rule in self.rules)

    async def _run(self) -> None:
        """Watches rounds of folders. A round ends when a folder appears (the next round watches it too) or when
        watching fails (the next starts RETRY_SECONDS later). A save neither round saw (in the gap between them,
        or in a folder before its watch began) is found by its ctime and handled as if it had been seen."""
        self._errors.register(TASK)
        previous: tuple[set[Path], float] | None = None  # the last round's folders, and when it stopped seeing
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            # Walked, like the saves looked for below, in a thread: a large tree must not stall the proxy's loop.
            folders = await loop.run_in_executor(None, self._folders)
            try:
                seen_until = await self._round(folders, previous)
            except Exception as exc:
                seen_until = time.time()
                self._registered.set()
                self._errors.report(TASK, exc, f"stopped (watching again in {RETRY_SECONDS:g} s; until then "
                                               "reload with `pysupervise reload` or SIGHUP)")
                await self._wait_or_stop(RETRY_SECONDS)
            previous = (set(folders), seen_until - CTIME_SLACK)

    async def _round(self, folders: list[Path], previous: tuple[set[Path], float] | None) -> float:
        """Watches `folders` until stopped or a folder appears; returns when it last saw a save (or stopped)."""
        batches = watchfiles.awatch(*folders, stop_event=self._stop, step=QUIET_MS, debounce=2000, recursive=False,
                                    raise_interrupt=False)
        watching = set(folders)
        # awatch registers every watch synchronously (RustNotify's constructor) in its first step, which runs before
        # this task's next one.
        first = asyncio.ensure_future(batches.__anext__())
        try:
            await asyncio.sleep(0)
            if first.done() and first.exception() is not None:
                raise first.exception()
            self._registered.set()
            if previous is not None:
                self._dispatch_safely(await asyncio.get_running_loop().run_in_executor(
                    None, unseen_saves, folders, *previous))
            changes = await first
            while True:
                seen_until = time.time()  # what arrives after it is lost when this round ends: the next looks for it
                self._dispatch_safely({Path(path) for _change, path in changes})
                # A folder created or renamed in comes as an added path (a stat each, so only those are looked at).
                added = {Path(path) for change, path in changes if change == watchfiles.Change.added}
                if any(path not in watching and self._wants(path) for path in added):
                    return seen_until  # a new folder: the next round watches it
                changes = await batches.__anext__()
        except StopAsyncIteration:  # stopped
            return time.time()
        finally:
            if not first.done():  # cancelled while registering: the generator must be left before it is closed
                first.cancel()
                with contextlib.suppress(BaseException):
                    await first
            await batches.aclose()

    async def _wait_or_stop(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def _dispatch_safely(self, paths: set[Path]) -> None:
        try:
            self._dispatch(paths)
        except Exception as exc:  # one batch of saves, not the watching, went wrong
            self._errors.report(TASK, exc)

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
