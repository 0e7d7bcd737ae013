"""Packs what the benchmarks need on a machine that has nothing installed and no network (the many-core
`device` of the developers' guide): this Python with pysupervise's dependencies and psutil, the compiled
request path of this tree, wrk, and every shared library they load, the C library and its loader included,
so that it runs whatever Linux the machine has. One file, build/device-bundle.tar.gz (ignored by git).

    python3 benchmarks/device_bundle.py            # here, after pip install -e . (the compiled build)
    # there, in a copy of the same tree:
    tar xf build/device-bundle.tar.gz -C /tmp && /tmp/psb/run benchmarks/front_scaling.py --workers 2,4,8,16 \\
        --processes 1,2,4 --threads 4

`run` refuses a tree whose request-path sources differ from the ones compiled here, puts the compiled
modules beside them, and runs the script with the bundle's Python first on PATH (wrk too). Every process the
benchmark starts with sys.executable (the sites, their workers and fronts) goes through the bundle's loader.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.machinery
import importlib.metadata
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
NAME = "psb"
# Standard-library folders no benchmark imports: left out (the test suite alone is a third of the library).
_STDLIB_LEFT_OUT = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "site-packages",
                    "__pycache__"}
# What the benchmarks need besides pysupervise's own dependencies.
_BENCHMARK_PACKAGES = ["psutil"]
_LOADER = "ld-linux-x86-64.so.2"
_LDD_LINE = re.compile(r"^\s*(\S+)(?: => (\S+))? \(0x[0-9a-f]+\)$")

_LAUNCHER = """#!/bin/sh
# {what}, under the bundle's own C library and loader, whatever the machine's are.
psb=$(cd "$(dirname "$0")/.." && pwd)
export PSB_PYTHON="$psb/bin/python"
exec "$psb/lib/{loader}" --library-path "$psb/lib" "$psb/bin/{binary}" "$@"
"""
_RUN = """#!/bin/sh
# Run from the repository's root: psb/run SCRIPT ARGS (see benchmarks/device_bundle.py).
set -e
psb=$(cd "$(dirname "$0")" && pwd)
"$psb/bin/python" "$psb/install_build.py" "$psb" "$PWD"
export PATH="$psb/bin:$PATH" PYTHONNOUSERSITE=1 PYTHONPATH="$PWD"
exec "$psb/bin/python" "$@"
"""
# Processes started with sys.executable (pysupervise's workers, fronts and reaper) must go through the launcher.
_SITECUSTOMIZE = """import os
import sys

sys.executable = os.environ.get("PSB_PYTHON", sys.executable)
"""
_INSTALL_BUILD = '''"""Puts the bundle's compiled request path into the tree at argv[2]; refuses other sources."""
import hashlib
import shutil
import sys
from pathlib import Path

bundle, tree = Path(sys.argv[1]), Path(sys.argv[2])
changed = []
for line in (bundle / "build" / "sources.sha256").read_text().splitlines():
    digest, name = line.split("  ", 1)
    source = tree / name
    if not source.exists() or hashlib.sha256(source.read_bytes()).hexdigest() != digest:
        changed.append(name)
if changed:
    sys.exit(f"this tree is not the one the bundle was compiled from ({', '.join(changed[:3])} differ): "
             "build the bundle again from this tree")
for extension in (bundle / "build").rglob("*.so"):
    shutil.copy(extension, tree / extension.relative_to(bundle / "build"))  # newer than its source: used
'''


def distributions() -> list[importlib.metadata.Distribution]:
    """pysupervise's runtime dependencies and the benchmarks', with everything they require (no extras)."""
    wanted = [Requirement(r) for r in importlib.metadata.requires("pysupervise") or []]
    wanted += [Requirement(name) for name in _BENCHMARK_PACKAGES]
    found: dict[str, importlib.metadata.Distribution] = {}
    while wanted:
        requirement = wanted.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        found[name] = importlib.metadata.distribution(requirement.name)
        wanted += [Requirement(r) for r in found[name].requires or []]
    return list(found.values())


def copy_stdlib(lib: Path) -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    shutil.copytree(stdlib, lib / stdlib.name, symlinks=False,
                    ignore=lambda folder, names: [n for n in names if n in _STDLIB_LEFT_OUT or n.startswith("config-")])


def copy_packages(site_packages: Path) -> None:
    site_packages.mkdir(parents=True)
    for distribution in distributions():
        for file in distribution.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue  # console scripts outside site-packages, and bytecode (written again there)
            target = site_packages / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(file.locate()), target)
    (site_packages / "sitecustomize.py").write_text(_SITECUSTOMIZE)


def copy_build(build: Path) -> None:
    """The compiled request path of this tree, and the digest of each source it was compiled from."""
    digests = []
    for folder, _dirs, names in os.walk(ROOT / "pysupervise"):
        for name in sorted(names):
            suffix = next((s for s in importlib.machinery.EXTENSION_SUFFIXES if name.endswith(s)), None)
            if suffix is None:
                continue
            extension = Path(folder, name)
            source = extension.with_name(name[:-len(suffix)] + ".py")
            target = build / extension.relative_to(ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(extension, target)
            digests.append(f"{hashlib.sha256(source.read_bytes()).hexdigest()}  {source.relative_to(ROOT)}")
    if not digests:
        sys.exit("no compiled request path in this tree: pip install -e . first (it needs Cython and a C compiler)")
    (build / "sources.sha256").write_text("\n".join(digests) + "\n")


def is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def shared_libraries(binaries: list[Path]) -> dict[str, Path]:
    """Every library the binaries load, by the name the loader looks for; the loader itself under _LOADER."""
    found: dict[str, Path] = {}
    for binary in binaries:
        out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
        for line in out.splitlines():
            match = _LDD_LINE.match(line)
            if match is None or match.group(1).startswith("linux-vdso"):
                continue
            name, path = match.groups()
            if path is None:  # the loader's own line: "/lib64/ld-linux-x86-64.so.2 (0x...)"
                name, path = _LOADER, name
            found.setdefault(Path(name).name, Path(path).resolve())
    return found


def launcher(path: Path, what: str, binary: str) -> None:
    path.write_text(_LAUNCHER.format(what=what, loader=_LOADER, binary=binary))
    path.chmod(0o755)


def assemble(psb: Path) -> None:
    bin_dir, lib = psb / "bin", psb / "lib"
    bin_dir.mkdir(parents=True)
    shutil.copy2(Path(sys.executable).resolve(), bin_dir / "python3.11")
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is needed for the benchmarks: apt-get install -y wrk")
    shutil.copy2(wrk, bin_dir / "wrk.real")
    copy_stdlib(lib)
    copy_packages(lib / "python3.11" / "site-packages")
    copy_build(psb / "build")
    elves = [p for p in psb.rglob("*") if p.is_file() and not p.is_symlink() and is_elf(p)]
    for name, path in shared_libraries(elves).items():
        if not (lib / name).exists():
            shutil.copy2(path, lib / name)
    strip = shutil.which("strip")
    for path in [p for p in psb.rglob("*") if p.is_file() and is_elf(p)]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
        if strip is not None and path.name not in (_LOADER, "libc.so.6"):
            subprocess.run([strip, "--strip-unneeded", str(path)], check=True)
    launcher(bin_dir / "python", "The bundle's Python", "python3.11")
    launcher(bin_dir / "python3", "The bundle's Python", "python3.11")
    launcher(bin_dir / "wrk", "wrk", "wrk.real")
    (psb / "run").write_text(_RUN)
    (psb / "run").chmod(0o755)
    (psb / "install_build.py").write_text(_INSTALL_BUILD)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "device-bundle.tar.gz")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        psb = Path(scratch) / NAME
        assemble(psb)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(args.out, "w:gz") as tar:
            tar.add(psb, arcname=NAME)
        unpacked = sum(p.stat().st_size for p in psb.rglob("*") if p.is_file())
    print(f"{args.out}: {args.out.stat().st_size / 2**20:.1f} MiB ({unpacked / 2**20:.0f} MiB unpacked)")


if __name__ == "__main__":
    main()
