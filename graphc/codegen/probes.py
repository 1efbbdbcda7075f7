"""Capability probes of the C compiler, each a small build (or build + run) cached on
disk: OpenMP, -march=native, and glibc's SIMD libm (libmvec).

>>> vector_math_available() in (True, False)
True
"""
from __future__ import annotations

import os
import subprocess
import tempfile

from ..errors import BackendUnavailable
from . import cache
from .compilers import c_command, cpu_fingerprint, identity_of


def build_probe(cmd: tuple[str, ...], flags: tuple[str, ...], source: str, tag: str) -> bool:
    """Does ``cmd flags`` build ``source`` into a shared library? Cached on disk."""
    key = cache.make_key("probe", tag, identity_of(cmd), flags, source)
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


OPENMP_PROBE = """#include <omp.h>
int graphc_probe(int n) { int s = 0;
#pragma omp parallel for reduction(+:s)
  for (int i = 0; i < n; ++i) s += i;
  return s + omp_get_max_threads(); }
"""


def openmp_available() -> bool:
    """Whether the C compiler builds OpenMP code (``-fopenmp``); GRAPHC_OPENMP=0 turns it off."""
    if os.environ.get("GRAPHC_OPENMP", "1") == "0":
        return False
    return build_probe(c_command(), ("-fopenmp", "-fPIC", "-shared"), OPENMP_PROBE, "openmp")


# Functions c_family declares with a SIMD variant (VECTOR_MATH there, and its gc_cos alias
# of cos), called from loops the compiler vectorizes; tanh, tan, log1p and expm1 are
# glibc >= 2.35 symbols.
VECTOR_MATH_PROBE = """#include <math.h>
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
        cmd = c_command()
    except BackendUnavailable:
        return False
    flags = ("-O3", *(("-march=native",) if march_native_ok() else ()), "-std=c11",
             "-fno-trapping-math", "-fno-math-errno", *VECTOR_MATH_CFLAGS)
    return run_probe(cmd, flags, (*VECTOR_MATH_LIBS, "-lm"), VECTOR_MATH_PROBE, "vector-math")


def run_probe(cmd: tuple[str, ...], flags: tuple[str, ...], libs: tuple[str, ...],
               source: str, tag: str) -> bool:
    """Does ``cmd flags source -o exe libs`` build, and ``exe`` exit 0? Cached on disk
    (keyed by the compiler and the host CPU: the program runs what -march=native made)."""
    key = cache.make_key("run-probe", tag, identity_of(cmd), flags, libs, source,
                         cpu_fingerprint())
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


def march_native_ok() -> bool:
    return build_probe(c_command(), ("-march=native", "-fPIC", "-shared"), "int f(void){return 0;}\n",
                  "march")
