"""Native toolchain for the C and CUDA backends: find compilers, build, cache, load.

The parts live by concern in ``compilers`` (discovery), ``probes`` (capability probes),
``gpu`` (GPU detection) and ``build`` (flags, build + cache, load); this module is
their one entry point for the backends, plus ``require`` and ``describe``.

API summary (what the C / CUDA backends call; everything else here is internal)
-------------------------------------------------------------------------------
Building and loading (all builds go through the on-disk cache in ``cache.py``)::

    build_shared_library(source, lang, flags=(), name="kernel") -> pathlib.Path
        lang is "c" (cc, C11), "cuda" (nvcc) or "cuda-emulate" (the same .cu text
        compiled as C++20 by the host c++ with graphc_cuda_emu.h: CUDA on the CPU).
        ``flags`` are EXTRA flags appended after the defaults (e.g. ("-lm",)).
        Raises BackendUnavailable (tool missing: says which and how to get it) or
        CompileError (compiler's message + path of the kept source file).
    load_library(path) -> ctypes.CDLL           # one per path while in use; dlclose-d after
    compile_and_load(source, lang, flags=(), name="kernel") -> ctypes.CDLL
    nvcc_compile_check(source, arch="sm_90", flags=(), name="kernel") -> None
        compile a .cu with ``nvcc -c -arch=<arch>`` only (no GPU needed); result cached.
        Raises BackendUnavailable without nvcc, CompileError on errors.
    cache.clear() -> int                       # empty the on-disk cache (graphc.codegen.cache;
                                               # size cap, LRU eviction: cache_maintenance)

Discovery (cheap, cached, never crash)::

    find_c_compiler() / find_cxx_compiler() / find_nvcc() -> str   (or BackendUnavailable)
    have_c_compiler() / have_cxx_compiler() / have_nvcc() -> bool
    openmp_available() -> bool                 # "-fopenmp" test compile, cached on disk
    vector_math_available() -> bool            # glibc libmvec usable: build + run probe, cached
    gpu_available() -> bool                    # nvidia-smi / libcuda, no CUDA context kept
    gpu_arch() -> str                          # "sm_90" style; sm_90 when no GPU is present
    require(lang, device=None)                 # raise BackendUnavailable if lang can't run here
                                               # (lang "cuda" also needs a GPU)
    default_flags(lang) -> tuple[str, ...]     # the flags used before ``flags``
    include_dir() -> pathlib.Path              # holds graphc_cuda.h, graphc_cuda_emu.h
    describe() -> dict                         # all of the above, for diagnostics; never raises

Default flags:
    c:            cc -O3 -march=native -fPIC -shared -std=c11 [-fopenmp] ... -lm
                  [-fopenmp-simd -DGC_VECTOR_MATH ... -lmvec]  (when vector_math_available():
                  loops calling exp/tanh/sin... use glibc's SIMD variants, <= 4 ulp)
                  (no -ffast-math: results must match NumPy incl. NaN/Inf)
    cuda:         nvcc -O3 -arch=<gpu_arch()> -Xcompiler -fPIC -shared -I<include_dir>
    cuda-emulate: c++ -O2 -std=c++20 -fPIC -shared -pthread -I<include_dir>
                  -include graphc_cuda.h -x c++   (with GCC, a precompiled graphc_cuda.h
                  kept in the cache makes this ~3x cheaper; GRAPHC_PCH=0 turns it off)

Environment: CC, CXX, CUDA_HOME/CUDA_PATH, GRAPHC_CACHE_DIR (else $XDG_CACHE_HOME/graphc
or ~/.cache/graphc), GRAPHC_OPENMP=0, GRAPHC_VECTOR_MATH=0, GRAPHC_GPU=0 (pretend no GPU), GRAPHC_PCH=0,
GRAPHC_EMU_WORKERS (OS threads running emulated blocks; default: CPU count),
GRAPHC_CACHE_MAX_BYTES (cache cap, default 1G; least recently used entries go first),
GRAPHC_CACHE_LOCK_WAIT_S (longest wait for another builder, default 300), GRAPHC_QUIET=1
(no progress line on stderr). ``graphc cache info|clear|prune`` shows and tidies the cache.

Cache keys hash the source, the full command line, the compiler's identity (path and
--version), graphc_cuda*.h for CUDA, and the host CPU (because of -march=native).

Contract for generated sources:
    * C: export entry points with plain external linkage; no header needed.
      Tip: ``#include <tgmath.h>`` makes ``exp(x)`` pick expf for float in C11.
    * CUDA (.cu): ``#include "graphc_cuda.h"`` (see that header's top comment for the
      macros: GC_LAUNCH, GC_CHECK, GC_CHECK_LAUNCH, GC_SHARED, GC_EXPORT, gcMalloc...).
      Host entry points are ``GC_EXPORT int name(...)`` returning 0 or -1; on -1 call the
      exported ``const char* gc_last_error(void)`` (ctypes: restype c_char_p) for a
      message naming the failing kernel / call. The same text must build under nvcc and
      under the emulation (cuda-emulate).

Example::

    >>> from graphc.codegen import toolchain
    >>> lib = toolchain.compile_and_load("int twice(int x) { return 2 * x; }", "c")
    >>> lib.twice(21)
    42
"""
from __future__ import annotations

from ..errors import BackendUnavailable
from . import cache
from .build import (COMPILE_TIMEOUT_S, HEADERS, build_shared_library, compile_and_load,
                    default_flags, include_dir, link_flags, load_library, nvcc_compile_check)
from .compilers import (LANGS, Lang, command, compiler_identity, find_c_compiler,
                        find_cxx_compiler, find_nvcc, have_c_compiler, have_cxx_compiler,
                        have_nvcc)
from .gpu import gpu_arch, gpu_available
from .probes import VECTOR_MATH_CFLAGS, openmp_available, vector_math_available

__all__ = ["BackendUnavailable", "COMPILE_TIMEOUT_S", "HEADERS", "LANGS", "Lang", "build_shared_library",
           "cache", "compile_and_load", "compiler_identity", "default_flags", "describe",
           "find_c_compiler", "find_cxx_compiler", "find_nvcc", "gpu_arch", "gpu_available",
           "have_c_compiler", "have_cxx_compiler", "have_nvcc", "include_dir", "link_flags",
           "load_library", "nvcc_compile_check", "openmp_available", "require",
           "VECTOR_MATH_CFLAGS", "vector_math_available"]


def require(lang: str, device: str | None = None) -> None:
    """Raise BackendUnavailable naming what is missing to build and run ``lang`` here.

    ``require("cuda")`` needs nvcc and a GPU; ``require("cuda", device="emulate")`` (or
    lang "cuda-emulate") needs only a C++20 compiler; ``require("c")`` a C compiler.
    """
    if lang == "cuda" and device == "emulate":
        lang = "cuda-emulate"
    command(lang)
    if lang == "cuda" and not gpu_available():
        raise BackendUnavailable(
            "no NVIDIA GPU found (nvidia-smi lists none, or the driver's libcuda.so.1 is "
            "missing); backend='cuda' runs kernels on a GPU. Use backend='cuda', "
            "device='emulate' to run the same CUDA code on the CPU, or backend='c'.")


def describe() -> dict:
    """What this machine offers the native backends (for diagnostics); never raises.

    >>> sorted(describe())[:3]
    ['c_compiler', 'cache_dir', 'cuda_emulation']
    """
    def first_line(lang: str) -> str | None:
        try:
            lines = compiler_identity(lang).split("|", 1)[1].strip().splitlines()
        except (BackendUnavailable, IndexError):
            return None
        versioned = [ln for ln in lines if "release" in ln]  # nvcc puts it last
        return (versioned or lines or [""])[0]

    def safe(fn, default=None):
        try:
            return fn()
        except Exception as e:  # diagnostics must not fail
            return default if default is not None else f"error: {e}"

    c = safe(find_c_compiler, default="")
    nvcc = safe(find_nvcc, default="")
    return {
        "c_compiler": (c or None) and f"{c} ({first_line('c')})",
        "openmp": bool(c) and safe(openmp_available, default=False),
        "vector_math": bool(c) and safe(vector_math_available, default=False),
        "cuda_emulation": have_cxx_compiler() and first_line("cuda-emulate"),
        "nvcc": (nvcc or None) and f"{nvcc} ({first_line('cuda')})",
        "gpu": safe(gpu_available, default=False),
        "gpu_arch": safe(gpu_arch, default="sm_90"),
        "cache_dir": safe(lambda: str(cache.cache_dir())),
    }
