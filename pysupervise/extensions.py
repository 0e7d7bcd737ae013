"""Whether pysupervise's request path runs compiled, and never compiled code older than its source.

setup.py compiles the proxy's per-request modules with Cython, from the same .py files, into extensions beside
them; Python's import prefers an extension to a .py. `SourceFirst` (installed by pysupervise/__init__.py)
makes every import take the .py files instead when PYSUPERVISE_NO_EXTENSIONS is set (to profile or debug the
Python), or when any .py changed after its extension was built: an edited checkout that was not rebuilt runs
what its files say, and says so, rather than code that is no longer there. It is all or none, as the build is:
the typed classes' extensions import each other's C types, so one module run from source among compiled ones
would not load.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path

NO_EXTENSIONS = "PYSUPERVISE_NO_EXTENSIONS"
# A source this much newer than its extension was edited after the build. Installing a wheel writes the two
# files a moment apart, in either order, so a smaller difference says nothing.
STALE_AFTER_SECONDS = 2.0


def stale_sources(package_dir: Path) -> list[Path]:
    """The .py files under `package_dir` changed after the extension beside them was built."""
    stale = []
    for folder, _dirs, files in os.walk(package_dir):
        for name in files:
            suffix = next((s for s in importlib.machinery.EXTENSION_SUFFIXES if name.endswith(s)), None)
            if suffix is None:
                continue
            extension = Path(folder, name)
            source = extension.with_name(name[:-len(suffix)] + ".py")
            try:
                if source.stat().st_mtime - extension.stat().st_mtime > STALE_AFTER_SECONDS:
                    stale.append(source)
            except OSError:
                continue  # no source beside it: the extension is all there is
    return sorted(stale)


class SourceFirst:
    """A meta path finder for pysupervise's own modules: while it is on, an extension's .py loads instead."""

    def __init__(self, package: str, package_dir: Path, always_source: bool) -> None:
        self.prefix = package + "."
        self.always_source = always_source
        self.stale = [] if always_source else stale_sources(package_dir)
        if self.stale:
            more = len(self.stale) - 3
            named = ", ".join(map(str, self.stale[:3])) + (f" and {more} more" if more > 0 else "")
            print(f"pysupervise: {named} changed after the compiled build; running the request path as Python "
                  "until it is rebuilt (pip install -e .)", file=sys.stderr)

    @property
    def on(self) -> bool:
        return self.always_source or bool(self.stale)

    def find_spec(self, fullname: str, path=None, target=None):
        if not (self.on and fullname.startswith(self.prefix)):
            return None  # the standard finders decide
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            return spec
        source = Path(spec.origin).with_name(fullname.rpartition(".")[2] + ".py")
        return importlib.util.spec_from_file_location(fullname, source) if source.exists() else spec

    def request_path_note(self) -> str:
        """One line for the master's startup output: what runs the proxy's requests."""
        if self.always_source:
            return f"request path: Python source ({NO_EXTENSIONS} is set)"
        if self.stale:
            return (f"request path: Python source ({len(self.stale)} module(s) changed after the compiled build; "
                    "rebuild: pip install -e .)")
        compiled = [name for name, module in list(sys.modules.items()) if name.startswith(self.prefix)
                    and isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader)]
        if not compiled:
            return ("request path: Python source (not compiled: it needs Cython, a C compiler and Python's "
                    "headers when pysupervise is installed)")
        return f"request path: compiled ({len(compiled)} modules)"


def install(package: str) -> SourceFirst:
    """Puts a SourceFirst for `package` ahead of the standard finders (once per process) and returns it."""
    for finder in sys.meta_path:
        if isinstance(finder, SourceFirst) and finder.prefix == package + ".":
            return finder
    package_dir = Path(sys.modules[package].__file__).parent
    finder = SourceFirst(package, package_dir, always_source=bool(os.environ.get(NO_EXTENSIONS)))
    sys.meta_path.insert(0, finder)
    return finder
