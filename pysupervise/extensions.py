"""Whether pysupervise's request path runs compiled, and never a compiled module older than its source.

setup.py compiles the proxy's per-request modules with Cython, from the same .py files, into extensions beside
them; Python's import prefers an extension to a .py. `SourceFirst` (installed by pysupervise/__init__.py)
makes an import take the .py instead when PYSUPERVISE_NO_EXTENSIONS is set (to profile or debug the Python),
or when the .py changed after its extension was built: an edited checkout that was not rebuilt runs what its
files say, and says so, rather than code that is no longer there.
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


class SourceFirst:
    """A meta path finder for pysupervise's own modules; records what it sent to the source, and why."""

    def __init__(self, package: str, always_source: bool) -> None:
        self.prefix = package + "."
        self.always_source = always_source
        self.stale: list[str] = []  # modules whose extension is older than their source

    def find_spec(self, fullname: str, path=None, target=None):
        if not fullname.startswith(self.prefix):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
            return spec
        extension = Path(spec.origin)
        source = extension.with_name(fullname.rpartition(".")[2] + ".py")
        try:
            edited_after_build = source.stat().st_mtime - extension.stat().st_mtime > STALE_AFTER_SECONDS
        except OSError:
            return spec  # no source beside it: the extension is all there is
        if not (self.always_source or edited_after_build):
            return spec
        if edited_after_build and not self.always_source:
            self.stale.append(fullname)
            print(f"pysupervise: {source} changed after it was compiled; running it as Python "
                  "(rebuild: pip install -e .)", file=sys.stderr)
        return importlib.util.spec_from_file_location(fullname, source)

    def request_path_note(self) -> str:
        """One line for the master's startup output: what runs the proxy's requests."""
        compiled = sorted(name for name, module in list(sys.modules.items())
                          if name.startswith(self.prefix)
                          and isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader))
        if self.always_source:
            return f"request path: Python source ({NO_EXTENSIONS} is set)"
        if self.stale:
            return (f"request path: {len(compiled)} compiled module(s), {len(self.stale)} run as Python because "
                    "they changed after the build (rebuild: pip install -e .)")
        if not compiled:
            return ("request path: Python source (not compiled: it needs Cython, a C compiler and Python's "
                    "headers when pysupervise is installed)")
        return f"request path: compiled ({len(compiled)} modules)"


def install(package: str) -> SourceFirst:
    """Puts a SourceFirst for `package` ahead of the standard finders (once per process) and returns it."""
    for finder in sys.meta_path:
        if isinstance(finder, SourceFirst) and finder.prefix == package + ".":
            return finder
    finder = SourceFirst(package, always_source=bool(os.environ.get(NO_EXTENSIONS)))
    sys.meta_path.insert(0, finder)
    return finder
