"""Folders of symlinks under run_dir that let another interpreter import the worker runtime from the master's install.

`ours/` holds only a `pysupervise` link (first on the worker's PYTHONPATH: nothing of the app's can be shadowed by
it). `pure/` and `compiled/` hold links to the runtime's third-party packages (uvicorn and its needs, a2wsgi, uvloop,
httptools, aiohttp, debugpy, redis) and their .dist-info folders. The worker appends those last to sys.path, so the
app's venv wins wherever it has a package of its own; compiled ones only when the app's Python has the master's ABI.
"""

from __future__ import annotations

import importlib.metadata as metadata
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pysupervise

# What the worker runtime imports besides the standard library (serving, WSGI adapter, event loop, debugger,
# the bus client's Redis backend); their own requirements are followed from the installed metadata.
RUNTIME_DISTRIBUTIONS = ("uvicorn", "a2wsgi", "uvloop", "httptools", "aiohttp", "debugpy", "redis")
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_EXTRA_ONLY = re.compile(r"\bextra\s*==")
_COMPILED_SUFFIXES = (".so", ".pyd")


@dataclass(frozen=True)
class RuntimeLinks:
    ours: Path
    pure: Path
    compiled: Path


@dataclass(frozen=True)
class LinkedDistribution:
    name: str
    compiled: bool
    # Top-level name in sys.path (package folder, module file, .dist-info folder) → where the master has it.
    entries: tuple[tuple[str, Path], ...]


def runtime_closure(roots: tuple[str, ...] = RUNTIME_DISTRIBUTIONS) -> list[metadata.Distribution]:
    """The installed distributions among `roots` and everything they require (extras left out); missing ones are
    skipped: the runtime treats a2wsgi, uvloop and httptools as optional."""
    found: dict[str, metadata.Distribution] = {}
    waiting = list(roots)
    while waiting:
        key = _normalized(waiting.pop())
        if key in found:
            continue
        try:
            dist = metadata.distribution(key)
        except metadata.PackageNotFoundError:
            continue
        found[key] = dist
        for requirement in dist.requires or ():
            name = _REQUIREMENT_NAME.match(requirement)
            if name and not _EXTRA_ONLY.search(requirement):
                waiting.append(name.group(1))
    return list(found.values())


def linked_distribution(dist: metadata.Distribution) -> LinkedDistribution | None:
    """Where a distribution's top-level names live, read from its RECORD; None when it has none to read."""
    names: dict[str, Path] = {}
    compiled = False
    for file in dist.files or ():
        parts = file.parts
        if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith(".pth"):
            continue
        compiled = compiled or file.name.endswith(_COMPILED_SUFFIXES)
        top = parts[0]
        if len(parts) == 1 and not top.endswith((".py", *_COMPILED_SUFFIXES)):
            continue  # a stray file next to site-packages' packages, not something to import
        names.setdefault(top, Path(dist.locate_file(top)))
    if not names:
        return None
    return LinkedDistribution(_normalized(dist.metadata["Name"] or ""), compiled, tuple(sorted(names.items())))


def build_runtime_links(root: Path) -> RuntimeLinks:
    """Create or refresh the three folders under `root` (cheap when nothing changed: a readlink per entry)."""
    links = RuntimeLinks(root / "ours", root / "pure", root / "compiled")
    _sync(links.ours, {"pysupervise": Path(pysupervise.__file__).parent})
    pure: dict[str, Path] = {}
    compiled: dict[str, Path] = {}
    for dist in runtime_closure():
        linked = linked_distribution(dist)
        if linked is None:
            continue
        target = compiled if linked.compiled else pure
        for name, path in linked.entries:
            if name not in pure and name not in compiled:
                target[name] = path
    _sync(links.pure, pure)
    _sync(links.compiled, compiled)
    return links


def _sync(folder: Path, wanted: dict[str, Path]) -> None:
    """Make `folder` hold exactly one symlink per entry of `wanted`; each link replaced in one step."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in os.listdir(folder):
        if entry not in wanted:
            os.unlink(folder / entry)
    for name, target in wanted.items():
        link = folder / name
        try:
            if os.readlink(link) == str(target):
                continue
        except OSError:
            pass
        staged = folder / f".{name}.{os.getpid()}.new"
        if os.path.lexists(staged):
            os.unlink(staged)
        os.symlink(target, staged)
        os.replace(staged, link)


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()
