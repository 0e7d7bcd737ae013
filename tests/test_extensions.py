"""The compiled request path (setup.py, pysupervise/extensions.py): built where it can be, never stale, optional."""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "pysupervise"
SUFFIX = re.compile(r"\.cpython-.*\.so$|\.abi3\.so$|\.so$")
BUILT = sorted(PACKAGE.rglob("*.so"))
needs_build = pytest.mark.skipif(not BUILT, reason="this checkout was installed without the compiled build")

# What the subprocesses print: where each module came from, then the master's startup line about it.
PROBE = """
import importlib, sys
from pysupervise import extensions
for name in sys.argv[1:]:
    print(name, importlib.import_module(name).__file__)
print(extensions.install("pysupervise").request_path_note())
"""


def run_python(code: str, *args: str, root: Path = REPO, **env: str) -> subprocess.CompletedProcess:
    """`code` in a fresh interpreter on the checkout at `root`, compiled unless `env` says otherwise."""
    environment = {key: value for key, value in os.environ.items() if key != "PYSUPERVISE_NO_EXTENSIONS"}
    environment.update(env, PYTHONPATH=str(root))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60,
                          env=environment, cwd=root)


def probe(*modules: str, root: Path = REPO, **env: str) -> subprocess.CompletedProcess:
    return run_python(PROBE, *modules, root=root, **env)


def origins(result: subprocess.CompletedProcess) -> dict[str, str]:
    assert result.returncode == 0, result.stderr
    return dict(line.split(" ", 1) for line in result.stdout.splitlines()[:-1])


@needs_build
def test_the_built_modules_are_what_runs():
    result = probe("pysupervise.proxy.exchange", "pysupervise.proxy.client.connection", "pysupervise.proxy.server")
    assert all(SUFFIX.search(path) for path in origins(result).values()), result.stdout
    assert re.search(r"^request path: compiled \(\d+ modules\)$", result.stdout, re.M), result.stdout


def test_pysupervise_no_extensions_runs_the_source():
    result = probe("pysupervise.proxy.exchange", "pysupervise.proxy.request", PYSUPERVISE_NO_EXTENSIONS="1")
    assert all(path.endswith(".py") for path in origins(result).values()), result.stdout
    assert "request path: Python source (PYSUPERVISE_NO_EXTENSIONS is set)" in result.stdout


# A None where the code expects one of the typed objects: a bug, which must stay an exception as in Python.
NONE_WHERE_AN_ENDPOINT_GOES = """
import sys
from pysupervise.proxy.dispatcher import Dispatcher
print(sys.modules["pysupervise.proxy.dispatcher"].__file__)
try:
    Dispatcher("app", 10, 1.0).release(None)
except AttributeError as exc:
    print("AttributeError:", exc)
"""


@pytest.mark.parametrize("pure", [False, True], ids=["compiled", "no-extensions"])
def test_a_none_where_a_typed_object_goes_raises_and_does_not_crash_the_process(pure):
    # Without Cython's nonecheck, a method call on a None typed as Endpoint reads through a null vtable: a
    # segfault of the master, every site down, instead of one request's exception.
    result = run_python(NONE_WHERE_AN_ENDPOINT_GOES, **({"PYSUPERVISE_NO_EXTENSIONS": "1"} if pure else {}))
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "AttributeError: 'NoneType' object has no attribute 'slot_released'" in result.stdout, result.stdout
    assert result.stdout.splitlines()[0].endswith(".py") == (pure or not BUILT), result.stdout


@needs_build
def test_a_source_edited_after_the_build_runs_as_python_with_the_whole_request_path(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "pysupervise", ignore=shutil.ignore_patterns("__pycache__"))
    edited = tmp_path / "pysupervise" / "proxy" / "request.py"
    later = time.time() + 60
    os.utime(edited, (later, later))
    # Untouched, but compiled against request's C types: it must not load beside a request.py run as Python.
    result = probe("pysupervise.proxy.exchange", "pysupervise.proxy.request", root=tmp_path)
    assert all(path.endswith(".py") for path in origins(result).values()), result.stdout
    assert f"{edited} changed after the compiled build; running the request path as Python" in result.stderr
    assert "request path: Python source (1 module(s) changed after the compiled build" in result.stdout


def _build_in_copy(tmp_path: Path, *python_args: str, **env: str) -> subprocess.CompletedProcess:
    """setup.py build_ext --inplace on a copy of the checkout (the C that Cython wrote is copied too, so that
    what is tested is the compiler step, in seconds)."""
    copy = tmp_path / "checkout"
    copy.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, copy / name)
    shutil.copytree(PACKAGE, copy / "pysupervise", ignore=shutil.ignore_patterns("__pycache__", "*.so"))
    environment = {key: value for key, value in os.environ.items() if key != "PYSUPERVISE_NO_EXTENSIONS"}
    environment.update(env)
    return subprocess.run([sys.executable, *python_args], capture_output=True, text=True, timeout=300,
                          cwd=copy, env=environment)


RUN_SETUP = "import runpy, sys; sys.argv = ['setup.py', 'build_ext', '--inplace']; runpy.run_path('setup.py')"


def test_without_a_c_compiler_the_build_succeeds_and_compiles_nothing(tmp_path):
    pytest.importorskip("Cython")
    result = _build_in_copy(tmp_path, "-c", RUN_SETUP, CC="/bin/false", LDSHARED="/bin/false")
    assert result.returncode == 0, result.stderr
    assert "not compiling the request path" in result.stderr
    assert "it runs as Python, correct but slower" in result.stderr
    assert not list((tmp_path / "checkout").rglob("*.so"))


@pytest.mark.skipif(not shutil.which("gcc"), reason="needs gcc")
def test_one_module_that_does_not_compile_leaves_none_compiled(tmp_path):
    # The typed modules import each other's C types: a half-compiled set would not load.
    pytest.importorskip("Cython")
    compiler = tmp_path / "cc"
    # The build compiles in parallel and waits for every module before it fails; -O0 keeps the others quick.
    compiler.write_text('#!/bin/sh\ncase "$*" in *proxy/backend.c*) exit 1;; esac\nexec gcc "$@" -O0\n')
    compiler.chmod(0o755)
    result = _build_in_copy(tmp_path, "-c", RUN_SETUP, CC=str(compiler))
    assert result.returncode == 0, result.stderr
    assert "building 'pysupervise.logs.access_log' extension" in result.stdout  # built first, then removed
    assert "not compiling the request path" in result.stderr
    assert not list((tmp_path / "checkout").rglob("*.so"))


def test_without_cython_the_build_succeeds_and_compiles_nothing(tmp_path):
    result = _build_in_copy(tmp_path, "-c", "import sys; sys.modules['Cython'] = None; " + RUN_SETUP)
    assert result.returncode == 0, result.stderr
    assert "Cython is not installed; the request path runs as Python" in result.stderr
    assert not list((tmp_path / "checkout").rglob("*.so"))


def _pxd_attributes(pxd: Path) -> dict[str, set[str]]:
    """class name -> the attribute names a .pxd declares for it."""
    declared: dict[str, set[str]] = {}
    current = None
    for line in pxd.read_text().splitlines():
        if match := re.match(r"cdef class (\w+)", line):
            current = declared.setdefault(match[1], set())
        elif match := re.match(r"\s+cdef (?:public )?(?:(?:unsigned|signed|long|short) )*\w+ (.+)", line):
            current.update(name.strip() for name in match[1].split(","))
    return declared


def _slots(source: Path) -> dict[str, set[str]]:
    tree = ast.parse(source.read_text())
    return {node.name: set(ast.literal_eval(statement.value))
            for node in tree.body if isinstance(node, ast.ClassDef)
            for statement in node.body
            if isinstance(statement, ast.Assign) and ast.unparse(statement.targets[0]) == "__slots__"}


@pytest.mark.parametrize("pxd", sorted(PACKAGE.rglob("*.pxd")), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_each_typed_class_declares_exactly_its_slots(pxd):
    # A slot missing from the .pxd is an AttributeError only in the compiled build; one extra is dead weight.
    slots = _slots(pxd.with_suffix(".py"))
    for name, attributes in _pxd_attributes(pxd).items():
        assert attributes == slots[name], f"{pxd.name}, {name}: {sorted(attributes ^ slots[name])}"


SITE = """
[apps.web]
app = "web:create_app"
dir = "{apps}"
route = "/"
workers = 1
"""


@pytest.mark.parametrize("pure", [False, True], ids=["as-installed", "no-extensions"])
def test_the_master_says_what_runs_its_requests_and_serves_either_way(make_site, pure):
    env = {"PYSUPERVISE_NO_EXTENSIONS": "1"} if pure else {}
    site = make_site(SITE, env=env)
    if pure:
        expected = "request path: Python source (PYSUPERVISE_NO_EXTENSIONS is set)"
    elif BUILT:
        expected = "request path: compiled ("
    else:
        expected = "request path: Python source (not compiled"
    assert expected in site.output_text()
    body = bytes(range(256)) * 400  # a body through RequestBody, the worker and back
    response = site.request("POST", "/echo", body=body, headers={"Content-Type": "application/octet-stream"})
    assert (response.status, response.body) == (200, body)
    assert site.get("/whoami").json()["path"] == "/whoami"
