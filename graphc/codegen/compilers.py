"""Compiler discovery for the native backends: the C and C++ compilers ($CC, $CXX or
the usual names on PATH), nvcc (PATH, $CUDA_HOME/bin, the usual install directories),
each compiler's identity (part of every cache key) and the host CPU's fingerprint.

>>> have_c_compiler() in (True, False)
True
"""
from __future__ import annotations

import contextlib
import functools
import os
import platform
import shlex
import shutil
import subprocess
from typing import Literal

from ..errors import BackendUnavailable, CompileError
from . import cache

Lang = Literal["c", "cuda", "cuda-emulate"]
LANGS = ("c", "cuda", "cuda-emulate")

# Where nvcc is looked for after PATH and $CUDA_HOME/bin (tests monkeypatch this).
NVCC_FALLBACK_DIRS: tuple[str, ...] = ("/usr/local/cuda/bin", "/opt/cuda/bin")


@functools.lru_cache(maxsize=None)
def resolve_command(env_var: str, env_value: str | None, candidates: tuple[str, ...],
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


def compiler_command(var: str, names: tuple, what: str, purpose: str, package: str):
    """The compiler named by ``$var`` or the first of ``names`` on PATH, or a clear error."""
    cmd = resolve_command(var, os.environ.get(var), names, os.environ.get("PATH"))
    if cmd is None:
        given = os.environ.get(var)
        where = (f"${var}={given!r} is not an executable" if given else
                 f"${var} is unset and none of {', '.join(names)} is on PATH")
        raise BackendUnavailable(
            f"no {what} found ({where}); {purpose}. Install one (Debian/Ubuntu: apt install "
            f"{package}; macOS: xcode-select --install) or set {var}=/path/to/compiler.")
    return cmd


def c_command() -> tuple[str, ...]:
    return compiler_command("CC", ("cc", "gcc", "clang"), "C compiler",
                             "backend='c' compiles generated C with one. backend='numpy' "
                             "needs no compiler", "gcc")


def cxx_command() -> tuple[str, ...]:
    return compiler_command("CXX", ("c++", "g++", "clang++"), "C++ compiler",
                             "device='emulate' compiles the CUDA source as C++20 with one",
                             "g++")


@functools.lru_cache(maxsize=None)
def nvcc_lookup(path: str | None, cuda_home: str | None, fallbacks: tuple[str, ...]) -> str | None:
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
    exe = nvcc_lookup(os.environ.get("PATH"), cuda_home, tuple(NVCC_FALLBACK_DIRS))
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
    return c_command()[0]


def find_cxx_compiler() -> str:
    """Path of the C++ compiler ($CXX, else c++ / g++ / clang++ on PATH)."""
    return cxx_command()[0]


def found(fn) -> bool:
    try:
        fn()
        return True
    except BackendUnavailable:
        return False


def have_c_compiler() -> bool:
    return found(c_command)


def have_cxx_compiler() -> bool:
    return found(cxx_command)


def have_nvcc() -> bool:
    return found(find_nvcc)


@functools.lru_cache(maxsize=None)
def identity_of(cmd: tuple[str, ...]) -> str:
    """'realpath | first lines of --version': part of every cache key."""
    try:
        out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
        text = (out.stdout or out.stderr).strip()
    except (OSError, subprocess.SubprocessError) as e:
        text = f"unknown ({e})"
    return f"{os.path.realpath(cmd[0])} {' '.join(cmd[1:])} | {text}"


def command(lang: str) -> tuple[str, ...]:
    if lang == "c":
        return c_command()
    if lang == "cuda":
        return (find_nvcc(),)
    if lang == "cuda-emulate":
        return cxx_command()
    raise CompileError(f"unknown language {lang!r}; expected one of {LANGS}")


def compiler_identity(lang: str) -> str:
    """The compiler used for ``lang`` and its version text (raises if missing)."""
    return identity_of(command(lang))


@functools.lru_cache(maxsize=None)
def cpu_fingerprint() -> str:
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
