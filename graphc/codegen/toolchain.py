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
    nvcc_compile_check(source, arch="sm_90", flags=(), name="kernel") -> None
        compile a .cu with ``nvcc -c -arch=<arch>`` only (no GPU needed); result cached.
        Raises BackendUnavailable without nvcc, CompileError on errors.
    cache.clear() -> int                       # empty the on-disk cache (graphc.codegen.cache)

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
GRAPHC_EMU_WORKERS (OS threads running emulated blocks; default: CPU count).

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

import contextlib
import ctypes
import functools
import os
import pathlib
import platform
import re
import shlex
import shutil
import subprocess
import tempfile
from typing import Literal

from ..errors import BackendUnavailable, CompileError
from . import cache

Lang = Literal["c", "cuda", "cuda-emulate"]
LANGS = ("c", "cuda", "cuda-emulate")

# Where nvcc is looked for after PATH and $CUDA_HOME/bin (tests monkeypatch this).
NVCC_FALLBACK_DIRS: tuple[str, ...] = ("/usr/local/cuda/bin", "/opt/cuda/bin")
COMPILE_TIMEOUT_S = 900

_HEADERS = ("graphc_cuda.h", "graphc_cuda_emu.h")


def include_dir() -> pathlib.Path:
    """The directory holding graphc_cuda.h and graphc_cuda_emu.h."""
    return pathlib.Path(__file__).resolve().parent / "include"


# ---- discovery ----------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _resolve(env_var: str, env_value: str | None, candidates: tuple[str, ...],
             path: str | None) -> tuple[str, ...] | None:
    """Command (program + leading args) from $env_var, else the first candidate on PATH."""
    if env_value:
        words = shlex.split(env_value)
        exe = shutil.which(words[0], path=path) if words else None
        return (exe, *words[1:]) if exe else None
    for name in candidates:
        exe = shutil.which(name, path=path)
        if exe:
            return (exe,)
    return None


def _compiler_command(var: str, names: tuple, what: str, purpose: str, package: str):
    """The compiler named by ``$var`` or the first of ``names`` on PATH, or a clear error."""
    cmd = _resolve(var, os.environ.get(var), names, os.environ.get("PATH"))
    if cmd is None:
        given = os.environ.get(var)
        where = (f"${var}={given!r} is not an executable" if given else
                 f"${var} is unset and none of {', '.join(names)} is on PATH")
        raise BackendUnavailable(
            f"no {what} found ({where}); {purpose}. Install one (Debian/Ubuntu: apt install "
            f"{package}; macOS: xcode-select --install) or set {var}=/path/to/compiler.")
    return cmd


def _c_command() -> tuple[str, ...]:
    return _compiler_command("CC", ("cc", "gcc", "clang"), "C compiler",
                             "backend='c' compiles generated C with one. backend='numpy' "
                             "needs no compiler", "gcc")


def _cxx_command() -> tuple[str, ...]:
    return _compiler_command("CXX", ("c++", "g++", "clang++"), "C++ compiler",
                             "device='emulate' compiles the CUDA source as C++20 with one",
                             "g++")


@functools.lru_cache(maxsize=None)
def _nvcc_lookup(path: str | None, cuda_home: str | None, fallbacks: tuple[str, ...]) -> str | None:
    exe = shutil.which("nvcc", path=path)
    if exe:
        return exe
    dirs = ([os.path.join(cuda_home, "bin")] if cuda_home else []) + list(fallbacks)
    for d in dirs:
        cand = os.path.join(d, "nvcc")
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def find_nvcc() -> str:
    """Path of nvcc: PATH, then $CUDA_HOME/bin, then /usr/local/cuda/bin."""
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    exe = _nvcc_lookup(os.environ.get("PATH"), cuda_home, tuple(NVCC_FALLBACK_DIRS))
    if exe is None:
        looked = ["PATH"] + ([f"$CUDA_HOME/bin ({cuda_home}/bin)"] if cuda_home else ["$CUDA_HOME (unset)"])
        looked += list(NVCC_FALLBACK_DIRS)
        raise BackendUnavailable(
            f"nvcc (the CUDA compiler) not found; looked in {', '.join(looked)}. Install the "
            f"CUDA toolkit (https://developer.nvidia.com/cuda-downloads) and put its bin/ on PATH "
            f"or set CUDA_HOME. Without nvcc, backend='cuda', device='emulate' runs the same CUDA "
            f"code on the CPU and backend='c' compiles C for the CPU.")
    return exe


def find_c_compiler() -> str:
    """Path of the C compiler ($CC, else cc / gcc / clang on PATH)."""
    return _c_command()[0]


def find_cxx_compiler() -> str:
    """Path of the C++ compiler ($CXX, else c++ / g++ / clang++ on PATH)."""
    return _cxx_command()[0]


def _has(fn) -> bool:
    try:
        fn()
        return True
    except BackendUnavailable:
        return False


def have_c_compiler() -> bool:
    return _has(_c_command)


def have_cxx_compiler() -> bool:
    return _has(_cxx_command)


def have_nvcc() -> bool:
    return _has(find_nvcc)


@functools.lru_cache(maxsize=None)
def _identity_of(cmd: tuple[str, ...]) -> str:
    """'realpath | first lines of --version': part of every cache key."""
    try:
        out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
        text = (out.stdout or out.stderr).strip()
    except (OSError, subprocess.SubprocessError) as e:
        text = f"unknown ({e})"
    return f"{os.path.realpath(cmd[0])} {' '.join(cmd[1:])} | {text}"


def _command(lang: str) -> tuple[str, ...]:
    if lang == "c":
        return _c_command()
    if lang == "cuda":
        return (find_nvcc(),)
    if lang == "cuda-emulate":
        return _cxx_command()
    raise CompileError(f"unknown language {lang!r}; expected one of {LANGS}")


def compiler_identity(lang: str) -> str:
    """The compiler used for ``lang`` and its version text (raises if missing)."""
    return _identity_of(_command(lang))


@functools.lru_cache(maxsize=None)
def _cpu_fingerprint() -> str:
    """Host CPU model and features: -march=native code must not move between CPUs."""
    text = ""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("model name", "flags", "Features", "CPU part")):
                    text += line
                if line.strip() == "" and text:
                    break  # the first processor is enough
    return f"{platform.machine()} {platform.processor()} {cache.make_key(text)}"


def _probe(cmd: tuple[str, ...], flags: tuple[str, ...], source: str, tag: str) -> bool:
    """Does ``cmd flags`` build ``source`` into a shared library? Cached on disk."""
    key = cache.make_key("probe", tag, _identity_of(cmd), flags, source)
    if cache.lookup(key, ".txt") is not None:
        return cache.read_entry(cache.entry_path(key, ".txt")) == b"1"

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="graphc-probe-") as d:
            src = os.path.join(d, "probe.c")
            with open(src, "w") as f:
                f.write(source)
            try:
                r = subprocess.run([*cmd, *flags, src, "-o", os.path.join(d, "probe.so")],
                                   capture_output=True, timeout=120)
                return b"1" if r.returncode == 0 else b"0"
            except (OSError, subprocess.SubprocessError):
                return b"0"

    path = cache.get_or_build(key, ".txt", build)
    return cache.read_entry(path) == b"1"


_OPENMP_PROBE = """#include <omp.h>
int graphc_probe(int n) { int s = 0;
#pragma omp parallel for reduction(+:s)
  for (int i = 0; i < n; ++i) s += i;
  return s + omp_get_max_threads(); }
"""


def openmp_available() -> bool:
    """Whether the C compiler builds OpenMP code (``-fopenmp``); GRAPHC_OPENMP=0 turns it off."""
    if os.environ.get("GRAPHC_OPENMP", "1") == "0":
        return False
    return _probe(_c_command(), ("-fopenmp", "-fPIC", "-shared"), _OPENMP_PROBE, "openmp")


# Functions c_family declares with a SIMD variant (VECTOR_MATH there, and its gc_cos alias
# of cos), called from loops the compiler vectorizes; tanh, tan, log1p and expm1 are
# glibc >= 2.35 symbols.
_VECTOR_MATH_PROBE = """#include <math.h>
#include <stdio.h>
#pragma omp declare simd notinbranch
double tanh(double);
#pragma omp declare simd notinbranch
float tanhf(float);
#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
double sin(double);
#pragma omp declare simd notinbranch
double log1p(double);
#pragma omp declare simd notinbranch
double pow(double, double);
#pragma omp declare simd notinbranch
float powf(float, float);
#pragma omp declare simd notinbranch
__attribute__((const)) double gc_cos(double) __asm__("cos");
#define N 203
static double x[N], y[N];
static float xf[N], yf[N];
int main(void) {
    for (int i = 0; i < N; ++i) { x[i] = (i - 101) * 0.0731; xf[i] = (float)x[i]; }
    for (int i = 0; i < N; ++i) y[i] = tanh(x[i]) + exp(x[i]) + sin(x[i]) + log1p(x[i] * x[i])
                                       + pow(1.5, x[i]) + gc_cos(x[i]);
    for (int i = 0; i < N; ++i) yf[i] = tanhf(xf[i]) + powf(1.5f, xf[i]);
    double (*volatile t)(double) = tanh, (*volatile e)(double) = exp, (*volatile s)(double) = sin,
           (*volatile l)(double) = log1p;
    for (int i = 0; i < N; ++i) {   /* scalar calls through pointers: the reference */
        const double want = t(x[i]) + e(x[i]) + s(x[i]) + l(x[i] * x[i]) + pow(1.5, x[i])
                            + cos(x[i]);
        const double wantf = t(x[i]) + pow(1.5, x[i]);
        if (!(fabs(y[i] - want) <= 1e-12 * (1 + fabs(want)))) { printf("bad %d\\n", i); return 1; }
        if (!(fabs(yf[i] - wantf) <= 1e-5 * (1 + fabs(wantf)))) { printf("badf %d\\n", i); return 1; }
    }
    return 0;
}
"""

VECTOR_MATH_CFLAGS = ("-fopenmp-simd", "-DGC_VECTOR_MATH")
VECTOR_MATH_LIBS = ("-lmvec",)


def vector_math_available() -> bool:
    """Whether loops calling libm functions can use glibc's SIMD variants (libmvec).

    The probe compiles, links (``-fopenmp-simd ... -lmvec``) and runs a program whose
    vectorized loops call ``tanh``, ``exp``, ``pow``... declared ``omp declare simd``, and
    checks them against scalar calls; cached on disk. False with other C libraries, a
    glibc older than 2.35, or GRAPHC_VECTOR_MATH=0. When True, C builds get
    VECTOR_MATH_CFLAGS (which turn on the declarations in the C prelude) and -lmvec.
    """
    if os.environ.get("GRAPHC_VECTOR_MATH", "1") == "0":
        return False
    try:
        cmd = _c_command()
    except BackendUnavailable:
        return False
    flags = ("-O3", *(("-march=native",) if _march_native_ok() else ()), "-std=c11",
             "-fno-trapping-math", "-fno-math-errno", *VECTOR_MATH_CFLAGS)
    return _run_probe(cmd, flags, (*VECTOR_MATH_LIBS, "-lm"), _VECTOR_MATH_PROBE, "vector-math")


def _run_probe(cmd: tuple[str, ...], flags: tuple[str, ...], libs: tuple[str, ...],
               source: str, tag: str) -> bool:
    """Does ``cmd flags source -o exe libs`` build, and ``exe`` exit 0? Cached on disk
    (keyed by the compiler and the host CPU: the program runs what -march=native made)."""
    key = cache.make_key("run-probe", tag, _identity_of(cmd), flags, libs, source,
                         _cpu_fingerprint())
    if cache.lookup(key, ".txt") is not None:
        return cache.read_entry(cache.entry_path(key, ".txt")) == b"1"

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="graphc-probe-") as d:
            src, exe = os.path.join(d, "probe.c"), os.path.join(d, "probe")
            with open(src, "w") as f:
                f.write(source)
            try:
                r = subprocess.run([*cmd, *flags, src, "-o", exe, *libs],
                                   capture_output=True, timeout=120)
                if r.returncode != 0:
                    return b"0"
                r = subprocess.run([exe], capture_output=True, timeout=60)
                return b"1" if r.returncode == 0 else b"0"
            except (OSError, subprocess.SubprocessError):
                return b"0"

    return cache.read_entry(cache.get_or_build(key, ".txt", build)) == b"1"


def _march_native_ok() -> bool:
    return _probe(_c_command(), ("-march=native", "-fPIC", "-shared"), "int f(void){return 0;}\n",
                  "march")


# ---- GPU ----------------------------------------------------------------------------

def _detect_gpu() -> tuple[int, str | None]:
    """(number of GPUs, "sm_XY" of the first). Never raises; no CUDA context is kept.

    nvidia-smi first (a subprocess: the Python process never initialises CUDA, so
    forked workers can still use it); else libcuda via ctypes (cuInit + cuDeviceGetCount).
    """
    if os.environ.get("GRAPHC_GPU") == "0":
        return 0, None
    try:
        smi = shutil.which("nvidia-smi")
        if smi:
            r = subprocess.run([smi, "--query-gpu=compute_cap", "--format=csv,noheader"],
                               capture_output=True, text=True, timeout=20)
            if r.returncode != 0:
                return 0, None
            caps = [ln.strip() for ln in r.stdout.splitlines() if re.fullmatch(r"\d+\.\d+", ln.strip())]
            if caps:
                major, minor = caps[0].split(".")
                return len(caps), f"sm_{major}{minor}"
            n = len([ln for ln in r.stdout.splitlines() if ln.strip()])
            return n, None
        try:
            lib = ctypes.CDLL("libcuda.so.1")
        except OSError:
            return 0, None
        if lib.cuInit(0) != 0:
            return 0, None
        n = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(n)) != 0 or n.value < 1:
            return 0, None
        dev, major, minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
        lib.cuDeviceGet(ctypes.byref(dev), 0)
        lib.cuDeviceGetAttribute(ctypes.byref(major), 75, dev)  # COMPUTE_CAPABILITY_MAJOR
        lib.cuDeviceGetAttribute(ctypes.byref(minor), 76, dev)  # COMPUTE_CAPABILITY_MINOR
        return n.value, (f"sm_{major.value}{minor.value}" if major.value else None)
    except Exception:  # any odd driver state means "no usable GPU", never a crash
        return 0, None


@functools.lru_cache(maxsize=1)
def _gpu_info() -> tuple[int, str | None]:
    return _detect_gpu()


def gpu_available() -> bool:
    """Whether an NVIDIA GPU with a working driver is present (cached)."""
    return _gpu_info()[0] > 0


@functools.lru_cache(maxsize=None)
def _nvcc_archs(nvcc: str) -> tuple[int, ...]:
    try:
        r = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True, timeout=60)
        return tuple(sorted(int(m) for m in re.findall(r"compute_(\d+)", r.stdout)))
    except (OSError, subprocess.SubprocessError):
        return ()


def gpu_arch() -> str:
    """``sm_XY`` of the GPU present (clamped to what nvcc supports), else ``sm_90``."""
    arch = _gpu_info()[1]
    if arch is None:
        return "sm_90"
    if have_nvcc():
        supported = _nvcc_archs(find_nvcc())
        want = int(arch[3:])
        if supported and want not in supported:
            lower = [a for a in supported if a <= want]
            return f"sm_{lower[-1] if lower else supported[-1]}"
    return arch


def require(lang: str, device: str | None = None) -> None:
    """Raise BackendUnavailable naming what is missing to build and run ``lang`` here.

    ``require("cuda")`` needs nvcc and a GPU; ``require("cuda", device="emulate")`` (or
    lang "cuda-emulate") needs only a C++20 compiler; ``require("c")`` a C compiler.
    """
    if lang == "cuda" and device == "emulate":
        lang = "cuda-emulate"
    _command(lang)
    if lang == "cuda" and not gpu_available():
        raise BackendUnavailable(
            "no NVIDIA GPU found (nvidia-smi lists none, or the driver's libcuda.so.1 is "
            "missing); backend='cuda' runs kernels on a GPU. Use backend='cuda', "
            "device='emulate' to run the same CUDA code on the CPU, or backend='c'.")


# ---- flags ----------------------------------------------------------------------------

def default_flags(lang: str) -> tuple[str, ...]:
    """Flags placed before the source file (``flags`` passed by callers come after)."""
    if lang == "c":
        flags = ["-O3"]
        if _march_native_ok():
            flags.append("-march=native")
        flags += ["-fPIC", "-shared", "-std=c11"]  # no -ffast-math: NumPy's NaN/Inf semantics
        if openmp_available():
            flags.append("-fopenmp")
        if vector_math_available():
            flags += VECTOR_MATH_CFLAGS
        return tuple(flags)
    if lang == "cuda":
        return ("-O3", f"-arch={gpu_arch()}", "-Xcompiler", "-fPIC", "-shared",
                f"-I{include_dir()}")
    if lang == "cuda-emulate":
        return ("-O2", "-std=c++20", "-fPIC", "-shared", "-pthread", f"-I{include_dir()}",
                "-include", "graphc_cuda.h", "-x", "c++")
    raise CompileError(f"unknown language {lang!r}; expected one of {LANGS}")


def _link_flags(lang: str) -> tuple[str, ...]:
    """Libraries placed after the source and the caller's flags."""
    if lang != "c":
        return ()
    return (*VECTOR_MATH_LIBS, "-lm") if vector_math_available() else ("-lm",)


_SUFFIX = {"c": ".c", "cuda": ".cu", "cuda-emulate": ".cu"}


@functools.lru_cache(maxsize=None)
def _headers_key() -> str:
    return cache.make_key(*[(include_dir() / h).read_bytes() for h in _HEADERS])


def _safe_name(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)[:64]
    return s or "kernel"


def _run_compiler(argv: list[str], workdir: str, src_path: str, what: str, key: str,
                  keep: bool = True) -> None:
    """Run a compiler; on failure keep the source for inspection and raise CompileError."""
    try:
        r = subprocess.run(argv, capture_output=True, text=True, cwd=workdir,
                           timeout=COMPILE_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        raise CompileError(f"{what}: compiler timed out after {COMPILE_TIMEOUT_S}s: "
                           f"{shlex.join(argv)}") from e
    except OSError as e:
        raise BackendUnavailable(f"{what}: cannot run {argv[0]}: {e}") from e
    if r.returncode == 0:
        return
    if not keep:
        raise CompileError(r.stderr or "")
    kept_dir = cache.cache_dir() / "failed" / key[:24]
    kept_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    kept = kept_dir / os.path.basename(src_path)
    shutil.copyfile(src_path, kept)
    message = (r.stderr or "") + (r.stdout or "")
    raise CompileError(f"{what} failed (exit {r.returncode}); source kept at {kept}\n"
                       f"command: {shlex.join(argv)}\n{message.strip()}")


def _emulation_pch_dir(cmd: tuple[str, ...]) -> pathlib.Path | None:
    """A directory with a GCC precompiled graphc_cuda.h (+ the headers), or None.

    Parsing the C++20 standard headers is most of an emulation build; a PCH cuts it
    about 3x. GCC silently ignores a PCH that does not match the build's flags or
    macros (falling back to the real header in include_dir()), and a build that fails
    with the PCH is retried without it, so the PCH can only make builds faster.
    GRAPHC_PCH=0 turns it off.
    """
    if os.environ.get("GRAPHC_PCH", "1") == "0":
        return None
    ident = _identity_of(cmd)
    if "Free Software Foundation" not in ident or "clang" in ident.lower():
        return None  # GCC's PCH lookup only
    key = cache.make_key("pch", ident, _PCH_FLAGS, _headers_key())
    root = cache.cache_dir()
    d = root / f"pch-{key[:32]}"
    if _pch_ok(d):
        with contextlib.suppress(OSError):
            os.utime(d / "ok")  # recently used: kept by _prune_pchs
        return d
    if (root / f"pch-{key[:32]}.failed").exists():
        return None
    with cache._build_lock(key):
        if _pch_ok(d):
            return d
        shutil.rmtree(d, ignore_errors=True)  # damaged: rebuild
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-pch-", dir=root))
        try:
            for h in _HEADERS:
                shutil.copyfile(include_dir() / h, tmp / h)
            r = subprocess.run([*cmd, *_PCH_FLAGS, "-x", "c++-header", str(tmp / "graphc_cuda.h"),
                                "-o", str(tmp / "graphc_cuda.h.gch")],
                               capture_output=True, timeout=COMPILE_TIMEOUT_S)
            if r.returncode != 0:
                (root / f"pch-{key[:32]}.failed").write_bytes(r.stderr[-4000:])
                return None
            (tmp / "ok").write_text(str((tmp / "graphc_cuda.h.gch").stat().st_size))
            os.rename(tmp, d)
            _prune_pchs(root, keep=3)
            return d
        except (OSError, subprocess.SubprocessError):
            return d if _pch_ok(d) else None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _prune_pchs(root: pathlib.Path, keep: int) -> None:
    """PCHs are large (~60 MB): keep only the most recently used few (other header
    versions or compilers); a build that loses its PCH just retries without it."""
    def last_use(p: pathlib.Path) -> float:
        try:
            return (p / "ok").stat().st_mtime
        except OSError:
            return 0.0
    dirs = sorted((p for p in root.glob("pch-*") if p.is_dir()), key=last_use, reverse=True)
    for p in dirs[keep:]:
        shutil.rmtree(p, ignore_errors=True)


def _pch_ok(d: pathlib.Path) -> bool:
    """The PCH directory is complete: marker present and the .gch has its recorded size."""
    try:
        return (d / "graphc_cuda.h.gch").stat().st_size == int((d / "ok").read_text())
    except (OSError, ValueError):
        return False


# Must match the cuda-emulate defaults that affect code (GCC checks them when using a PCH).
_PCH_FLAGS = ("-O2", "-std=c++20", "-fPIC", "-pthread")


def build_shared_library(source: str, lang: Lang, flags: tuple[str, ...] = (),
                         name: str = "kernel") -> pathlib.Path:
    """Compile ``source`` into a shared library (through the cache); return its path.

    >>> p = build_shared_library("int one(void) { return 1; }", "c")
    >>> p.exists()
    True
    """
    if lang not in LANGS:
        raise CompileError(f"unknown language {lang!r}; expected one of {LANGS}")
    cmd = _command(lang)
    flags = tuple(flags)
    base = default_flags(lang)
    extra = _headers_key() if lang != "c" else ""
    key = cache.make_key("shared-library", lang, source, cmd, base, flags, _identity_of(cmd),
                         extra, _cpu_fingerprint())
    fname = _safe_name(name)

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="graphc-build-") as d:
            src = os.path.join(d, fname + _SUFFIX[lang])
            out = os.path.join(d, f"lib{fname}.so")
            with open(src, "w") as f:
                f.write(source)
            argv = [*cmd, *base, os.path.basename(src), "-o", out, *flags, *_link_flags(lang)]
            pch = _emulation_pch_dir(cmd) if lang == "cuda-emulate" else None
            if pch is not None:
                try:
                    _run_compiler([argv[0], f"-I{pch}", *argv[1:]], d, src, "", key, keep=False)
                    return pathlib.Path(out).read_bytes()
                except CompileError:
                    pass  # retried without the PCH: its error, if any, is the one to report
            _run_compiler(argv, d, src, f"{lang} compile of {fname}", key)
            if pch is not None:
                shutil.rmtree(pch, ignore_errors=True)  # the PCH broke a good build: drop it
            return pathlib.Path(out).read_bytes()

    return cache.get_or_build(key, ".so", build)


def load_library(path: str | os.PathLike) -> ctypes.CDLL:
    """ctypes.CDLL for ``path``, loaded once per process."""
    return cache.load_library(path)


def compile_and_load(source: str, lang: Lang, flags: tuple[str, ...] = (),
                     name: str = "kernel") -> ctypes.CDLL:
    """build_shared_library + load_library."""
    return load_library(build_shared_library(source, lang, flags, name))


def nvcc_compile_check(source: str, arch: str = "sm_90", flags: tuple[str, ...] = (),
                       name: str = "kernel") -> None:
    """Prove a .cu compiles with nvcc (``nvcc -c -arch=<arch>``); no GPU needed. Cached.

    Raises BackendUnavailable without nvcc and CompileError with nvcc's message.
    """
    nvcc = find_nvcc()
    argv_flags = ("-O3", f"-arch={arch}", "-Xcompiler", "-fPIC", f"-I{include_dir()}", *flags)
    key = cache.make_key("nvcc-check", source, argv_flags, _identity_of((nvcc,)), _headers_key())
    fname = _safe_name(name)

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="graphc-nvcc-") as d:
            src = os.path.join(d, fname + ".cu")
            with open(src, "w") as f:
                f.write(source)
            argv = [nvcc, *argv_flags, "-c", os.path.basename(src), "-o", fname + ".o"]
            _run_compiler(argv, d, src, f"nvcc -arch={arch} compile check of {fname}", key)
            return b"ok"

    cache.get_or_build(key, ".ok", build)


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
