"""Compiled libraries are unloaded when no live Function uses them (issue 20): distinct
compiles in one process keep only the libraries of live Functions mapped."""
from __future__ import annotations

import gc as pygc
import os

import numpy as np
import pytest

import graphc as gc
from graphc import compiler
from graphc.codegen import cache, toolchain

pytestmark = [
    pytest.mark.skipif(not toolchain.have_c_compiler(), reason="needs a C compiler"),
    pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="counts /proc/self/maps"),
]


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    """One cache for the module: the toolchain's probes (cached on disk) run once."""
    return tmp_path_factory.mktemp("lifetime")


@pytest.fixture
def cache_root(module_cache, monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(module_cache / "cache"))
    return module_cache / "cache"


def mapped_libraries(root) -> set[str]:
    """Files under the cache directory ``root`` mapped into this process."""
    root = str(root.resolve())
    with open("/proc/self/maps") as maps:
        return {line.split()[-1] for line in maps if root in line}


def tiny_library(k: int) -> str:
    return f"int graphc_lifetime_{k}(void) {{ return {k}; }}\n"


def test_a_library_is_unloaded_after_its_last_user(cache_root):
    lib = toolchain.compile_and_load(tiny_library(1), "c", name="lifetime")
    fn = lib.graphc_lifetime_1
    assert len(mapped_libraries(cache_root)) == 1
    del lib
    pygc.collect()
    assert fn() == 1 and len(mapped_libraries(cache_root)) == 1  # a function keeps it loaded
    del fn
    pygc.collect()
    assert mapped_libraries(cache_root) == set()
    again = toolchain.compile_and_load(tiny_library(1), "c", name="lifetime")
    assert again.graphc_lifetime_1() == 1  # loads again from the cache after an unload


def test_forty_distinct_libraries_keep_only_the_live_ones_mapped(cache_root):
    """40 distinct libraries, each dropped after one call: at most a few stay mapped
    (all 40 before the fix)."""
    kept = toolchain.compile_and_load(tiny_library(0), "c", name="kept")
    peak = 0
    for k in range(1, 41):
        lib = toolchain.compile_and_load(tiny_library(k), "c", name="distinct")
        assert getattr(lib, f"graphc_lifetime_{k}")() == k
        del lib
        if k % 10 == 0:
            pygc.collect()
            peak = max(peak, len(mapped_libraries(cache_root)))
    assert peak <= 3, peak
    assert kept.graphc_lifetime_0() == 0  # the live one stays loaded and works


def test_dropped_functions_release_their_libraries(cache_root, monkeypatch):
    """8 distinct C Functions, each dropped after a call, with the in-process Function
    cache shrunk to 1: their libraries are unmapped, a live Function's is not."""
    monkeypatch.setattr(compiler, "CACHE_SIZE", 1)
    x = gc.placeholder("x_lifetime", (3,), "float64")
    kept = gc.compile(gc.exp(x) * 0.5, backend="c")
    for k in range(8):
        f = gc.compile(gc.exp(x) * float(1000 + k), backend="c")
        np.testing.assert_allclose(f(np.zeros(3)), [1000.0 + k] * 3)
        del f
    pygc.collect()
    assert len(mapped_libraries(cache_root)) <= 2
    np.testing.assert_allclose(kept(np.zeros(3)), [0.5] * 3)


def test_eviction_spares_a_loaded_library(cache_root, monkeypatch):
    """A cap smaller than one library: writing evicts everything except what this
    process has loaded and what it has just written."""
    monkeypatch.setenv("GRAPHC_CACHE_MAX_BYTES", "1")
    lib = toolchain.compile_and_load(tiny_library(102), "c", name="loaded")
    path = next(iter(mapped_libraries(cache_root)))
    other = toolchain.build_shared_library(tiny_library(103), "c", name="other")
    assert os.path.exists(path) and other.exists()
    toolchain.build_shared_library(tiny_library(104), "c", name="third")
    assert os.path.exists(path) and not other.exists()  # LRU, not loaded: evicted
    assert cache.loaded_paths() >= {path}
    assert lib.graphc_lifetime_102() == 102


OPENMP_AFTER_UNLOAD = r"""
import gc as pygc, sys
import numpy as np
import graphc as gc
from graphc import compiler
compiler.CACHE_SIZE = 0      # keep no Function alive in the in-process cache

def runtimes():
    with open("/proc/self/maps") as maps:
        return {l.split()[-1] for l in maps if "libgomp" in l or "libomp" in l}

x = gc.placeholder("x", (None, 4096))
for k in range(3):
    f = gc.compile(gc.tanh(x * (k + 1.5)), backend="c")
    f(x=np.ones((512, 4096), np.float32))        # big enough for the parallel loop
    loaded = runtimes()
    del f
    pygc.collect()
    # the runtime's parked worker threads would crash if its code were unmapped
    assert runtimes() == loaded, (loaded, runtimes())
print("threads runtime kept:", sorted(loaded))
"""


def test_the_openmp_runtime_stays_mapped_after_its_libraries_unload(cache_root):
    """dlclose of the last graphc library used to unmap libgomp under its parked worker
    threads: an intermittent segfault when they woke (often at exit)."""
    import subprocess
    import sys
    run = subprocess.run([sys.executable, "-c", OPENMP_AFTER_UNLOAD], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
