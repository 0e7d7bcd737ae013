"""Builds pysupervise; compiles its request path with Cython where it can (issue 18).

The modules below stay plain Python: Cython compiles the same .py files, and the .pxd files beside
some of them give their classes C-typed attributes. Compiling is optional. Without Cython, without a C
compiler or Python's headers, or with PYSUPERVISE_NO_EXTENSIONS=1, the build still succeeds and
pysupervise runs its Python source (pysupervise/extensions.py decides, at import, which one runs).
"""

from __future__ import annotations

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

# The proxy's per-request path: what runs for every request and response (benchmarks/hot_path.py).
COMPILED_MODULES = [
    "pysupervise/access_lines.py",
    "pysupervise/logs/access_log.py",
    "pysupervise/proxy/backend.py",
    "pysupervise/proxy/body.py",
    "pysupervise/proxy/client/connection.py",
    "pysupervise/proxy/client/cork.py",
    "pysupervise/proxy/client/deadlines.py",
    "pysupervise/proxy/client/idle.py",
    "pysupervise/proxy/client/state.py",
    "pysupervise/proxy/client/writes.py",
    "pysupervise/proxy/dispatcher.py",
    "pysupervise/proxy/endpoint.py",
    "pysupervise/proxy/exchange.py",
    "pysupervise/proxy/forwarded.py",
    "pysupervise/proxy/head_checks.py",
    "pysupervise/proxy/request.py",
    "pysupervise/proxy/response_buffer.py",
    "pysupervise/proxy/response_head.py",
    "pysupervise/proxy/routing.py",
    "pysupervise/proxy/server.py",
    "pysupervise/proxy/static/file_work.py",
    "pysupervise/proxy/static/site.py",
    "pysupervise/proxy/static/transfer.py",
    "pysupervise/proxy/static/validators.py",
    "pysupervise/proxy/tunnel/tunnel_side.py",
    "pysupervise/proxy/upstream.py",
]
NO_EXTENSIONS = "PYSUPERVISE_NO_EXTENSIONS"


class OptionalBuildExt(build_ext):
    """Builds every module or none: the typed classes' modules import each other's C types (the .pxd cimports),
    so a compiled module beside one left as Python would not load. A failure leaves all of them as Python, and
    the install goes on."""

    def finalize_options(self) -> None:
        super().finalize_options()
        # One compiler per core: the modules are independent C files, and pip builds on every test run.
        if not self.parallel:
            self.parallel = os.cpu_count() or 1

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all, or one module that did not compile: stop there
            for built in self.get_outputs():
                if os.path.exists(built):
                    os.remove(built)
            self._warn(exc)

    @staticmethod
    def _warn(exc: Exception) -> None:
        print(f"pysupervise: not compiling the request path ({exc}); it runs as Python, correct but slower",
              file=sys.stderr)


def extensions() -> list:
    if os.environ.get(NO_EXTENSIONS):
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("pysupervise: Cython is not installed; the request path runs as Python", file=sys.stderr)
        return []
    # annotation_typing off: the annotations are for readers and mypy; only the .pxd files type things, so the
    # compiled code accepts exactly what the Python does. nonecheck on: a None where a typed object belongs (a
    # bug) raises AttributeError as the Python does, instead of crashing the master (no cost measurable).
    try:
        return cythonize(COMPILED_MODULES, quiet=True, nthreads=os.cpu_count() or 1, compiler_directives={
            "language_level": 3, "annotation_typing": False, "binding": True, "nonecheck": True})
    except Exception as exc:  # Cython refused a module
        OptionalBuildExt._warn(exc)
        return []


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
