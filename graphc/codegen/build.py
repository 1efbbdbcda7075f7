"""Building and loading native code: default flags per language, the compiler run
(failures keep the source and name the command), the emulation header's precompiled
form, and shared libraries built through the on-disk cache and loaded once.

>>> lib = compile_and_load("int twice(int x) { return 2 * x; }", "c")
>>> lib.twice(21)
42
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import tempfile

from .. import progress
from ..errors import BackendUnavailable, CompileError
from . import cache, cache_maintenance, probes
from .compilers import LANGS, Lang, command, cpu_fingerprint, find_nvcc, identity_of
from .gpu import gpu_arch
from .probes import VECTOR_MATH_CFLAGS, VECTOR_MATH_LIBS, march_native_ok, openmp_available

COMPILE_TIMEOUT_S = 900

HEADERS = ("graphc_cuda.h", "graphc_cuda_emu.h")


def include_dir() -> pathlib.Path:
    """The directory holding graphc_cuda.h and graphc_cuda_emu.h."""
    return pathlib.Path(__file__).resolve().parent / "include"


def default_flags(lang: str) -> tuple[str, ...]:
    """Flags placed before the source file (``flags`` passed by callers come after)."""
    if lang == "c":
        flags = ["-O3"]
        if march_native_ok():
            flags.append("-march=native")
        flags += ["-fPIC", "-shared", "-std=c11"]  # no -ffast-math: NumPy's NaN/Inf semantics
        if openmp_available():
            flags.append("-fopenmp")
        if probes.vector_math_available():
            flags += VECTOR_MATH_CFLAGS
        return tuple(flags)
    if lang == "cuda":
        return ("-O3", f"-arch={gpu_arch()}", "-Xcompiler", "-fPIC", "-shared",
                f"-I{include_dir()}")
    if lang == "cuda-emulate":
        return ("-O2", "-std=c++20", "-fPIC", "-shared", "-pthread", f"-I{include_dir()}",
                "-include", "graphc_cuda.h", "-x", "c++")
    raise CompileError(f"unknown language {lang!r}; expected one of {LANGS}")


def link_flags(lang: str) -> tuple[str, ...]:
    """Libraries placed after the source and the caller's flags."""
    if lang != "c":
        return ()
    return (*VECTOR_MATH_LIBS, "-lm") if probes.vector_math_available() else ("-lm",)


SUFFIX = {"c": ".c", "cuda": ".cu", "cuda-emulate": ".cu"}
LANG_TITLE = {"c": "C", "cuda": "CUDA", "cuda-emulate": "emulated CUDA"}


@functools.lru_cache(maxsize=None)
def headers_key() -> str:
    return cache.make_key(*[(include_dir() / h).read_bytes() for h in HEADERS])


def safe_name(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)[:64]
    return s or "kernel"


def run_compiler(argv: list[str], workdir: str, src_path: str, what: str, key: str,
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
    root = cache.cache_dir()
    cache_maintenance.prune(root)  # failed-compile folders older than a week go
    kept_dir = root / "failed" / key[:24]
    kept_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    kept = kept_dir / os.path.basename(src_path)
    shutil.copyfile(src_path, kept)
    message = (r.stderr or "") + (r.stdout or "")
    raise CompileError(f"{what} failed (exit {r.returncode}); source kept at {kept}\n"
                       f"command: {shlex.join(argv)}\n{message.strip()}")


def emulation_pch_dir(cmd: tuple[str, ...]) -> pathlib.Path | None:
    """A directory with a GCC precompiled graphc_cuda.h (+ the headers), or None.

    Parsing the C++20 standard headers is most of an emulation build; a PCH cuts it
    about 3x. GCC silently ignores a PCH that does not match the build's flags or
    macros (falling back to the real header in include_dir()), and a build that fails
    with the PCH is retried without it, so the PCH can only make builds faster.
    GRAPHC_PCH=0 turns it off.
    """
    if os.environ.get("GRAPHC_PCH", "1") == "0":
        return None
    ident = identity_of(cmd)
    if "Free Software Foundation" not in ident or "clang" in ident.lower():
        return None  # GCC's PCH lookup only
    key = cache.make_key("pch", ident, PCH_FLAGS, headers_key())
    root = cache.cache_dir()
    d = root / f"pch-{key[:32]}"
    if pch_ok(d):
        with contextlib.suppress(OSError):
            os.utime(d / "ok")  # recently used: kept by prune_pchs
        return d
    if (root / f"pch-{key[:32]}.failed").exists():
        return None
    with cache.build_lock(key):
        if pch_ok(d):
            return d
        shutil.rmtree(d, ignore_errors=True)  # damaged: rebuild
        tmp = pathlib.Path(tempfile.mkdtemp(prefix=".tmp-pch-", dir=root))
        try:
            for h in HEADERS:
                shutil.copyfile(include_dir() / h, tmp / h)
            with progress.phase("building the CUDA emulation's precompiled header graphc_cuda.h"):
                r = subprocess.run([*cmd, *PCH_FLAGS, "-x", "c++-header", str(tmp / "graphc_cuda.h"),
                                    "-o", str(tmp / "graphc_cuda.h.gch")],
                                   capture_output=True, timeout=COMPILE_TIMEOUT_S)
            if r.returncode != 0:
                (root / f"pch-{key[:32]}.failed").write_bytes(r.stderr[-4000:])
                return None
            (tmp / "ok").write_text(str((tmp / "graphc_cuda.h.gch").stat().st_size))
            os.rename(tmp, d)
            prune_pchs(root, keep=3)
            return d
        except (OSError, subprocess.SubprocessError):
            return d if pch_ok(d) else None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def prune_pchs(root: pathlib.Path, keep: int) -> None:
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


def pch_ok(d: pathlib.Path) -> bool:
    """The PCH directory is complete: marker present and the .gch has its recorded size."""
    try:
        return (d / "graphc_cuda.h.gch").stat().st_size == int((d / "ok").read_text())
    except (OSError, ValueError):
        return False


# Must match the cuda-emulate defaults that affect code (GCC checks them when using a PCH).
PCH_FLAGS = ("-O2", "-std=c++20", "-fPIC", "-pthread")


def build_shared_library(source: str, lang: Lang, flags: tuple[str, ...] = (),
                         name: str = "kernel", units: tuple[str, ...] = ()) -> pathlib.Path:
    """Compile ``source`` into a shared library (through the cache); return its path.
    With ``units`` (C translation units that together are ``source``'s program), those
    are compiled in parallel (as many at a time as this process may use CPUs) and
    linked into the library instead; the cache holds the one library either way.

    >>> p = build_shared_library("int one(void) { return 1; }", "c")
    >>> p.exists()
    True
    """
    if lang not in LANGS:
        raise CompileError(f"unknown language {lang!r}; expected one of {LANGS}")
    cmd = command(lang)
    flags = tuple(flags)
    base = default_flags(lang)
    extra = headers_key() if lang != "c" else ""
    key = cache.make_key("shared-library", lang, source, cmd, base, flags, identity_of(cmd),
                         extra, cpu_fingerprint(), *((tuple(units),) if units else ()))
    fname = safe_name(name)

    def build() -> bytes:
        if units:
            return build_units(units, lang, cmd, base, flags, fname, key)
        with progress.phase(f"building {LANG_TITLE[lang]} library from {fname}{SUFFIX[lang]} "
                            f"({os.path.basename(cmd[0])})"), \
                tempfile.TemporaryDirectory(prefix="graphc-build-") as d:
            src = os.path.join(d, fname + SUFFIX[lang])
            out = os.path.join(d, f"lib{fname}.so")
            with open(src, "w") as f:
                f.write(source)
            argv = [*cmd, *base, os.path.basename(src), "-o", out, *flags, *link_flags(lang)]
            pch = emulation_pch_dir(cmd) if lang == "cuda-emulate" else None
            if pch is not None:
                try:
                    run_compiler([argv[0], f"-I{pch}", *argv[1:]], d, src, "", key, keep=False)
                    return pathlib.Path(out).read_bytes()
                except CompileError:
                    pass  # retried without the PCH: its error, if any, is the one to report
            run_compiler(argv, d, src, f"{lang} compile of {fname}", key)
            if pch is not None:
                shutil.rmtree(pch, ignore_errors=True)  # the PCH broke a good build: drop it
            return pathlib.Path(out).read_bytes()

    return cache.get_or_build(key, ".so", build)


def build_units(units: tuple[str, ...], lang: Lang, cmd: tuple, base: tuple, flags: tuple,
                fname: str, key: str) -> bytes:
    """The shared library linked from ``units``, each compiled by its own compiler process,
    at most as many at a time as the CPUs this process may run on."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = max(1, min(len(units), cpu_count()))
    with progress.phase(f"building {LANG_TITLE[lang]} library from {fname}{SUFFIX[lang]} "
                        f"({os.path.basename(cmd[0])}, {len(units)} units, {jobs} at a time)"), \
            tempfile.TemporaryDirectory(prefix="graphc-build-") as d:
        srcs = []
        for i, text in enumerate(units):
            src = os.path.join(d, f"{fname}_{i}{SUFFIX[lang]}")
            with open(src, "w") as f:
                f.write(text)
            srcs.append(src)

        def compile_unit(src: str) -> str:
            obj = src[:-len(SUFFIX[lang])] + ".o"
            run_compiler([*cmd, *base, "-c", os.path.basename(src), "-o", obj, *flags], d, src,
                         f"{lang} compile of {os.path.basename(src)}", key)
            return obj

        with ThreadPoolExecutor(max_workers=jobs) as pool:   # compilers run outside the GIL
            objs = list(pool.map(compile_unit, srcs))
        out = os.path.join(d, f"lib{fname}.so")
        run_compiler([*cmd, *base, *objs, "-o", out, *flags, *link_flags(lang)], d, srcs[0],
                     f"{lang} link of {fname}", key)
        return pathlib.Path(out).read_bytes()


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_library(path: str | os.PathLike) -> ctypes.CDLL:
    """ctypes.CDLL for ``path``, loaded once per process while in use (closed when the
    last user of the CDLL, e.g. the Function built on it, is gone; the OpenMP runtime it
    brings in stays: see ``cache.load_library``)."""
    return cache.load_library(path)


def compile_and_load(source: str, lang: Lang, flags: tuple[str, ...] = (),
                     name: str = "kernel", units: tuple[str, ...] = ()) -> ctypes.CDLL:
    """build_shared_library + load_library."""
    return load_library(build_shared_library(source, lang, flags, name, units))


def nvcc_compile_check(source: str, arch: str = "sm_90", flags: tuple[str, ...] = (),
                       name: str = "kernel") -> None:
    """Prove a .cu compiles with nvcc (``nvcc -c -arch=<arch>``); no GPU needed. Cached.

    Raises BackendUnavailable without nvcc and CompileError with nvcc's message.
    """
    nvcc = find_nvcc()
    argv_flags = ("-O3", f"-arch={arch}", "-Xcompiler", "-fPIC", f"-I{include_dir()}", *flags)
    key = cache.make_key("nvcc-check", source, argv_flags, identity_of((nvcc,)), headers_key())
    fname = safe_name(name)

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="graphc-nvcc-") as d:
            src = os.path.join(d, fname + ".cu")
            with open(src, "w") as f:
                f.write(source)
            argv = [nvcc, *argv_flags, "-c", os.path.basename(src), "-o", fname + ".o"]
            run_compiler(argv, d, src, f"nvcc -arch={arch} compile check of {fname}", key)
            return b"ok"

    cache.get_or_build(key, ".ok", build)
