"""GPU detection: how many NVIDIA GPUs this machine has and their architecture, without
keeping a CUDA context in this process.

>>> gpu_arch().startswith("sm_")
True
"""
from __future__ import annotations

import ctypes
import functools
import os
import re
import shutil
import subprocess

from .compilers import find_nvcc, have_nvcc


def detect_gpu() -> tuple[int, str | None]:
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
        count = ctypes.c_int(0)
        if lib.cuDeviceGetCount(ctypes.byref(count)) != 0 or count.value < 1:
            return 0, None
        dev, cc_major, cc_minor = ctypes.c_int(0), ctypes.c_int(0), ctypes.c_int(0)
        lib.cuDeviceGet(ctypes.byref(dev), 0)
        lib.cuDeviceGetAttribute(ctypes.byref(cc_major), 75, dev)  # COMPUTE_CAPABILITY_MAJOR
        lib.cuDeviceGetAttribute(ctypes.byref(cc_minor), 76, dev)  # COMPUTE_CAPABILITY_MINOR
        return count.value, (f"sm_{cc_major.value}{cc_minor.value}" if cc_major.value else None)
    except Exception:  # any odd driver state means "no usable GPU", never a crash
        return 0, None


@functools.lru_cache(maxsize=1)
def gpu_info() -> tuple[int, str | None]:
    return detect_gpu()


def gpu_available() -> bool:
    """Whether an NVIDIA GPU with a working driver is present (cached)."""
    return gpu_info()[0] > 0


@functools.lru_cache(maxsize=None)
def nvcc_archs(nvcc: str) -> tuple[int, ...]:
    try:
        r = subprocess.run([nvcc, "--list-gpu-arch"], capture_output=True, text=True, timeout=60)
        return tuple(sorted(int(m) for m in re.findall(r"compute_(\d+)", r.stdout)))
    except (OSError, subprocess.SubprocessError):
        return ()


def gpu_arch() -> str:
    """``sm_XY`` of the GPU present (clamped to what nvcc supports), else ``sm_90``."""
    arch = gpu_info()[1]
    if arch is None:
        return "sm_90"
    if have_nvcc():
        supported = nvcc_archs(find_nvcc())
        want = int(arch[3:])
        if supported and want not in supported:
            lower = [a for a in supported if a <= want]
            return f"sm_{lower[-1] if lower else supported[-1]}"
    return arch
