"""Native toolchain for the C and CUDA backends: find compilers, build, cache, load.

API summary (what the C / CUDA backends call; everything else here is internal)
-------------------------------------------------------------------------------
Building and loading (all builds go through the on-disk cache in ``cache.py``)::

    build_shared_library(source, lang, flags=(), name="kernel") -> pathlib.Path
        lang is "c" (cc, C11), "cuda" (nvcc) or "cuda-emulate" (the same .cu text
        compiled as C++20 by the host c++ with graphc_cuda_emu.h: CUDA on the CPU).
        ``flags`` are EXTRA flags appended after the defaults (e.g. ("-lm",)).
        Raises BackendUnavailable (tool missing: says which and how to get it) or
        CompileError (compiler's message + path of the kept source file).
    load_library(path) -> ctypes.CDLL           # cached per process by path
    compile_and_load(source, lang, flags=(), name="kernel") -> ctypes.CDLL
    nvcc_compile_check(source, arch="sm_90") -> None
        compile a .cu with ``nvcc -c -arch=<arch>`` only (no GPU needed); result cached.
        Raises BackendUnavailable without nvcc, CompileError on errors.

Discovery (cheap, cached, never crash)::

    find_c_compiler() / find_cxx_compiler() / find_nvcc() -> str   (or BackendUnavailable)
    have_c_compiler() / have_cxx_compiler() / have_nvcc() -> bool
    openmp_available() -> bool                 # "-fopenmp" test compile, cached on disk
    gpu_available() -> bool                    # nvidia-smi / libcuda, no CUDA context kept
    gpu_arch() -> str                          # "sm_90" style; sm_90 when no GPU is present
    require(lang, device=None)                 # raise BackendUnavailable if lang can't run here
                                               # (lang "cuda" also needs a GPU)
    default_flags(lang) -> tuple[str, ...]     # the flags used before ``flags``
    include_dir() -> pathlib.Path              # holds graphc_cuda.h, graphc_cuda_emu.h

Default flags:
    c:            cc -O3 -march=native -fPIC -shared -std=c11 [-fopenmp] ... -lm
                  (no -ffast-math: results must match NumPy incl. NaN/Inf)
    cuda:         nvcc -O3 -arch=<gpu_arch()> -Xcompiler -fPIC -shared -I<include_dir>
    cuda-emulate: c++ -O2 -std=c++20 -fPIC -shared -pthread -x c++ -I<include_dir>
                  -include graphc_cuda.h

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
