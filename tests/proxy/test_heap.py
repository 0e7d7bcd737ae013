"""The master's C heap: freed body memory goes back to the OS after a load (glibc only)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from pysupervise.proxy.memory.heap import CHeap, HeapTrimmer
from tests.support.site import REPO

# Run in a fresh interpreter, as in the master: tuned at start, then a load, then the sweeper's check.
LOAD_THEN_TRIM = textwrap.dedent("""
    import json, os
    from pysupervise.proxy.memory.heap import CHeap, HeapTrimmer
    heap = CHeap()
    tuned = heap.tune_for_bodies()
    trimmer = HeapTrimmer(heap)
    baseline = trimmer.resident()
    # 64 MiB of response-sized pieces; every other one is freed: holes between live memory, which glibc
    # keeps after free() (it can only shrink the heap from its top); only a trim gives them back.
    pieces = [os.urandom(128 * 1024) for _ in range(512)]
    loaded = trimmer.resident()
    del pieces[::2]
    freed = trimmer.resident()
    trimmed = trimmer.check(now=1000.0)
    again = trimmer.check(now=1000.5)
    print(json.dumps({"tuned": tuned, "loaded": loaded - baseline, "freed": freed - baseline,
                      "trimmed": trimmed, "after": trimmer.resident() - baseline, "again": again}))
""")

MIB = 1024 * 1024


def run_fresh(script: str) -> dict:
    """What `script` prints as JSON, run in a fresh interpreter; skips where the C library is not glibc."""
    if not CHeap().available:
        pytest.skip("the C library is not glibc: nothing to tune or trim")
    return json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                                     cwd=REPO).stdout)


def test_memory_freed_after_a_load_goes_back_to_the_os():
    result = run_fresh(LOAD_THEN_TRIM)
    assert result["tuned"]
    assert result["loaded"] >= 60 * MIB and result["freed"] >= 60 * MIB  # glibc keeps the 32 MiB freed
    assert result["trimmed"] and result["after"] < 40 * MIB  # until the check gives them back
    assert not result["again"]  # at most one check a second


def test_a_quiet_heap_is_left_alone():
    if not CHeap().available:
        pytest.skip("the C library is not glibc")
    trimmer = HeapTrimmer(CHeap())
    assert not trimmer.check(now=1000.0)
    assert trimmer.trims == 0


# A trim while a load still holds its bodies gives little back; once they are freed the resident set does not grow,
# so what tells the trimmer is the buffers' level (BufferBudget.used) falling.
TRIM_DURING_A_LOAD = textwrap.dedent("""
    import json, os
    from pysupervise.proxy.memory.heap import CHeap, HeapTrimmer
    heap = CHeap()
    heap.tune_for_bodies()
    trimmer = HeapTrimmer(heap)
    baseline = trimmer.resident()
    # 64 MiB of uploads held in memory, between what other connections keep: holes once they are freed.
    bodies, kept = [], []
    for _ in range(256):
        bodies.append(os.urandom(256 * 1024))
        kept.append(os.urandom(8 * 1024))
    held = sum(map(len, bodies))
    during = trimmer.check(now=1000.0, held=held)
    bodies.clear()
    freed = trimmer.resident()
    unchanged = trimmer.check(now=1001.0, held=held)  # nothing charged was given back: no trim
    after_load = trimmer.check(now=1002.0, held=0)
    print(json.dumps({"during": during, "freed": freed - baseline, "unchanged": unchanged,
                      "after_load": after_load, "after": trimmer.resident() - baseline}))
""")


def test_a_trim_during_a_load_is_followed_by_one_after_it():
    result = run_fresh(TRIM_DURING_A_LOAD)
    assert result["during"] and result["freed"] >= 60 * MIB  # free, but kept by glibc
    assert not result["unchanged"]
    assert result["after_load"] and result["after"] < 8 * MIB
