"""Toolchain discovery, flags, building and loading, and the errors for missing tools."""
from __future__ import annotations

import ctypes
import math
import pathlib
import re
import shutil

import numpy as np
import pytest

from graphc.codegen import build, compilers, gpu, toolchain
from graphc.errors import BackendUnavailable, CompileError

needs_cc = pytest.mark.skipif(not toolchain.have_c_compiler(), reason="no C compiler (cc/gcc/clang)")
needs_nvcc = pytest.mark.skipif(not toolchain.have_nvcc(),
                                reason="nvcc not found (PATH, CUDA_HOME, /usr/local/cuda/bin)")


@pytest.fixture
def empty_path(tmp_path, monkeypatch):
    """PATH with nothing on it (and no compiler overrides)."""
    d = tmp_path / "empty-bin"
    d.mkdir()
    monkeypatch.setenv("PATH", str(d))
    for var in ("CC", "CXX", "CUDA_HOME", "CUDA_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(compilers, "NVCC_FALLBACK_DIRS", ())
    return d


def fake_tool(directory: pathlib.Path, name: str, script: str) -> pathlib.Path:
    p = directory / name
    p.write_text("#!/bin/sh\n" + script + "\n")
    p.chmod(0o755)
    return p


# ---- building C ---------------------------------------------------------------------

@needs_cc
def test_c_library_matches_numpy():
    src = """
    #include <stddef.h>
    double dot(const double* a, const double* b, long n) {
        double s = 0.0;
        for (long i = 0; i < n; ++i) s += a[i] * b[i];
        return s;
    }
    """
    lib = toolchain.compile_and_load(src, "c", name="dot")
    lib.dot.restype = ctypes.c_double
    lib.dot.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long]
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(1000), rng.standard_normal(1000)
    assert math.isclose(lib.dot(a.ctypes.data, b.ctypes.data, 1000), float(a @ b), rel_tol=1e-12)


@needs_cc
def test_default_c_flags_keep_numpy_nan_inf_semantics():
    flags = toolchain.default_flags("c")
    assert "-ffast-math" not in flags and "-Ofast" not in flags
    for f in ("-O3", "-fPIC", "-shared", "-std=c11"):
        assert f in flags
    assert ("-fopenmp" in flags) == toolchain.openmp_available()
    src = """
    #include <math.h>
    double self_minus(double x) { return x - x; }
    int is_nan(double x) { return x != x; }
    double min_with_nan(double a, double b) { return fmin(a, b); }
    """
    lib = toolchain.compile_and_load(src, "c", name="nan_semantics")
    lib.self_minus.restype = ctypes.c_double
    lib.self_minus.argtypes = [ctypes.c_double]
    lib.is_nan.argtypes = [ctypes.c_double]
    with np.errstate(invalid="ignore"):
        expected = np.float64(np.inf) - np.float64(np.inf)
    assert np.isnan(lib.self_minus(math.inf)) and np.isnan(expected)
    assert lib.is_nan(math.nan) == int(np.isnan(np.nan)) == 1
    assert lib.is_nan(1.0) == 0


@needs_cc
def test_openmp_when_available():
    if not toolchain.openmp_available():
        pytest.skip("the C compiler does not build -fopenmp code here")
    src = """
    #include <omp.h>
    long tri(long n) { long s = 0;
    #pragma omp parallel for reduction(+:s)
        for (long i = 0; i < n; ++i) s += i;
        return s; }
    """
    lib = toolchain.compile_and_load(src, "c", name="omp_tri")
    lib.tri.restype = ctypes.c_long
    lib.tri.argtypes = [ctypes.c_long]
    n = 100_000
    assert lib.tri(n) == int(np.arange(n).sum())


@needs_cc
def test_cache_hit_returns_same_file_without_recompiling(monkeypatch):
    src = "int graphc_toolchain_hit(void) { return 5; }\n"
    p1 = toolchain.build_shared_library(src, "c", name="hit")
    mtime = p1.stat().st_mtime_ns

    def no_compiler(*a, **k):
        raise AssertionError("compiler run on a cache hit")

    monkeypatch.setattr(build, "run_compiler", no_compiler)
    p2 = toolchain.build_shared_library(src, "c", name="hit")
    assert p2 == p1 and p2.stat().st_mtime_ns == mtime
    # different flags are a different entry (and need the compiler)
    with pytest.raises(AssertionError, match="compiler run"):
        toolchain.build_shared_library(src, "c", flags=("-DGRAPHC_OTHER=1",), name="hit")


@needs_cc
def test_compile_error_has_message_and_kept_source():
    src = "int broken(void) { return graphc_no_such_symbol; }\n"
    with pytest.raises(CompileError) as e:
        toolchain.build_shared_library(src, "c", name="broken")
    msg = str(e.value)
    assert "graphc_no_such_symbol" in msg and "error" in msg
    kept = pathlib.Path(re.search(r"source kept at (\S+)", msg).group(1))
    assert kept.read_text() == src and kept.name == "broken.c"


def test_unknown_language_is_an_error():
    with pytest.raises(CompileError, match="unknown language"):
        toolchain.build_shared_library("", "fortran")


def test_name_is_sanitised_for_file_names():
    assert build.safe_name('a"b/../c\n') == "a_b____c_"
    assert build.safe_name("") == "kernel"


# ---- missing tools ----------------------------------------------------------------------

def test_no_c_compiler_says_what_and_how(empty_path):
    assert not toolchain.have_c_compiler()
    with pytest.raises(BackendUnavailable) as e:
        toolchain.build_shared_library("int f(void){return 0;}", "c")
    msg = str(e.value)
    assert "no C compiler" in msg and "CC" in msg and "apt install gcc" in msg
    assert "numpy" in msg


def test_cc_env_that_is_not_a_program(empty_path, monkeypatch):
    monkeypatch.setenv("CC", "/definitely/not/a/cc")
    with pytest.raises(BackendUnavailable, match="/definitely/not/a/cc"):
        toolchain.find_c_compiler()


def test_cc_env_is_used(empty_path, monkeypatch):
    cc = fake_tool(empty_path, "mycc", "exit 0")
    monkeypatch.setenv("CC", f"{cc} -DWRAPPED")
    assert toolchain.find_c_compiler() == str(cc)
    assert compilers.c_command() == (str(cc), "-DWRAPPED")


def test_no_cxx_compiler_for_emulation(empty_path):
    assert not toolchain.have_cxx_compiler()
    with pytest.raises(BackendUnavailable) as e:
        toolchain.require("cuda", device="emulate")
    assert "C++" in str(e.value) and "emulate" in str(e.value)


def test_no_nvcc_says_what_and_how(empty_path, tmp_path, monkeypatch):
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "no-cuda-here"))
    assert not toolchain.have_nvcc()
    with pytest.raises(BackendUnavailable) as e:
        toolchain.nvcc_compile_check("__global__ void k() {}")
    msg = str(e.value)
    assert "nvcc" in msg and "CUDA_HOME" in msg and "no-cuda-here" in msg and "emulate" in msg


def test_nvcc_found_through_cuda_home(empty_path, tmp_path, monkeypatch):
    bindir = tmp_path / "cuda" / "bin"
    bindir.mkdir(parents=True)
    nvcc = fake_tool(bindir, "nvcc", "exit 0")
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "cuda"))
    assert toolchain.find_nvcc() == str(nvcc)


def test_cuda_without_gpu_says_so(monkeypatch):
    if not toolchain.have_nvcc():
        pytest.skip("nvcc not found: the nvcc message is tested elsewhere")
    monkeypatch.setattr(gpu, "gpu_info", lambda: (0, None))
    with pytest.raises(BackendUnavailable) as e:
        toolchain.require("cuda")
    assert "GPU" in str(e.value) and "device='emulate'" in str(e.value)
    assert toolchain.gpu_arch() == "sm_90"


# ---- GPU detection --------------------------------------------------------------------

def test_gpu_detection_is_cheap_and_never_raises():
    n, arch = gpu.detect_gpu()
    assert isinstance(n, int) and n >= 0
    assert arch is None or re.fullmatch(r"sm_\d+", arch)
    assert isinstance(toolchain.gpu_available(), bool)
    assert re.fullmatch(r"sm_\d+", toolchain.gpu_arch())


@pytest.mark.parametrize("script,expected", [
    ('echo "9.0"', (1, "sm_90")),
    ('echo "8.6"; echo "8.6"', (2, "sm_86")),
    ("echo 'NVIDIA-SMI has failed' >&2; exit 9", (0, None)),
    ("echo 'garbage'", (1, None)),
])
def test_gpu_detection_through_nvidia_smi(empty_path, script, expected):
    fake_tool(empty_path, "nvidia-smi", script)
    assert gpu.detect_gpu() == expected


def test_gpu_detection_can_be_disabled(monkeypatch):
    monkeypatch.setenv("GRAPHC_GPU", "0")
    assert gpu.detect_gpu() == (0, None)


# ---- nvcc -----------------------------------------------------------------------------

@needs_nvcc
def test_nvcc_compile_check_reports_errors():
    with pytest.raises(CompileError) as e:
        toolchain.nvcc_compile_check('#include "graphc_cuda.h"\n'
                                     "__global__ void k(float* x) { x[0] = graphc_undefined; }\n",
                                     name="bad_kernel")
    assert "graphc_undefined" in str(e.value) and "sm_90" in str(e.value)


@needs_nvcc
def test_nvcc_shared_library_reports_cuda_errors_without_a_gpu():
    """Real CUDA build (nvcc -shared); with no GPU the runtime error comes back named."""
    src = """#include "graphc_cuda.h"
    __global__ void fill(gc_index_t n, float* x) {
        for (gc_index_t i = blockIdx.x * (gc_index_t)blockDim.x + threadIdx.x; i < n;
             i += (gc_index_t)gridDim.x * blockDim.x) x[i] = 1.0f;
    }
    GC_EXPORT int run_fill(gc_index_t n, float* host) {
        float* d;
        GC_CHECK(gcMalloc((void**)&d, n * sizeof(float)));
        GC_LAUNCH(fill, 4, 128, 0, n, d);
        GC_CHECK_LAUNCH(fill);
        GC_CHECK(gcMemcpyDtoH(host, d, n * sizeof(float)));
        GC_CHECK(gcFree(d));
        return 0;
    }
    """
    lib = toolchain.compile_and_load(src, "cuda", name="fill")
    lib.gc_last_error.restype = ctypes.c_char_p
    x = np.zeros(1000, np.float32)
    lib.gc_clear_error()
    rc = lib.run_fill(ctypes.c_int64(x.size), ctypes.c_void_p(x.ctypes.data))
    if toolchain.gpu_available():
        assert rc == 0, lib.gc_last_error()
        assert (x == 1).all()
    else:
        assert rc == -1
        assert "gcMalloc" in lib.gc_last_error().decode()


# ---- precompiled header for the emulation ------------------------------------------------

needs_cxx = pytest.mark.skipif(not toolchain.have_cxx_compiler(), reason="no C++ compiler")


@needs_cxx
def test_emulation_builds_survive_a_damaged_precompiled_header(tmp_path, monkeypatch):
    shared = build.emulation_pch_dir(compilers.cxx_command())
    if shared is None:
        pytest.skip("no GCC precompiled header here (not GCC, or GRAPHC_PCH=0)")
    # work on a private copy so other processes using the shared cache are unaffected
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path / "cache"))
    pch = toolchain.cache.cache_dir() / shared.name
    pch.mkdir()
    for h in ("graphc_cuda.h", "graphc_cuda_emu.h"):
        shutil.copyfile(toolchain.include_dir() / h, pch / h)
    with open(shared / "graphc_cuda.h.gch", "rb") as f:
        (pch / "graphc_cuda.h.gch").write_bytes(f.read(1000))  # a truncated PCH...
    (pch / "ok").write_text("1000")  # ...that looks complete: GCC fails on it
    assert build.emulation_pch_dir(compilers.cxx_command()) == pch
    src = ("__global__ void k(float* x, float v) { x[threadIdx.x] = v; }\n"
           "GC_EXPORT int run(float* x, float v) { GC_LAUNCH(k, 1, 64, 0, x, v); "
           "GC_CHECK_LAUNCH(k); return 0; }\n")
    lib = toolchain.compile_and_load(src, "cuda-emulate", name="pch_damaged")
    x = (ctypes.c_float * 64)()
    assert lib.run(x, ctypes.c_float(2.5)) == 0
    assert list(x) == [2.5] * 64
    assert not pch.exists()  # the PCH that broke a good build was dropped


def test_describe_never_raises(empty_path):
    info = toolchain.describe()
    assert info["c_compiler"] is None and info["nvcc"] is None and info["openmp"] is False
    assert info["cuda_emulation"] is False


def test_describe_names_the_tools_here():
    info = toolchain.describe()
    assert (info["c_compiler"] is not None) == toolchain.have_c_compiler()
    assert (info["nvcc"] is not None) == toolchain.have_nvcc()
    assert isinstance(info["gpu"], bool) and info["gpu_arch"].startswith("sm_")
