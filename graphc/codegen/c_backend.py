"""backend="c": the fused kernels rendered as C for the CPU (``c_dialect``), compiled
with the system C compiler (OpenMP when available; with glibc's SIMD libm, libmvec,
when toolchain.vector_math_available(), so loops calling exp/tanh/sin... vectorize
without -ffast-math) into a shared library; a whole call is ONE ctypes call into a
generated host function that runs every kernel in order over a workspace laid out by
the memory plan. This module owns the C host code; matmuls may go through BLAS
(``c_blas``).

>>> import numpy as np, graphc as gc
>>> from graphc.codegen.base import Program
>>> x = gc.placeholder("x", (3,))
>>> exe = build(Program("f", (x,), (), (gc.exp(x) * 2,)))
>>> outs, _ = exe([np.zeros(3, np.float32)], [], {})
>>> outs[0]
array([2., 2., 2.], dtype=float32)
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

from ..errors import CompileError
from . import c_blas, c_host, c_lapack, c_units, native_export, native_loops, toolchain
from .c_dialect import C, C_WITHOUT_BLAS
from .kernel_ir import lower
from .kernel_types import ProgramIR
from .naming import Scope, sanitize_names
from .native_host import HOST_SCOPE, NativeRunner, explain_compile_error, kernel_stats, prefix


# No -ffast-math (results must match NumPy's, NaN and Inf included), but FP exceptions are
# never trapped and libm's errno is never read: this lets the compiler vectorize
# branch-free selects (gc_expf, clamps) and sqrt.
EXTRA_FLAGS = ("-fno-trapping-math", "-fno-math-errno")
# A translation unit this large (a 10,000-node chain and its gradient: 3.5 MB, ~320
# kernels) is compiled at -O1: GCC's time goes to expanding and register-allocating the
# kernels (-ftime-report), -O1 takes about 2/3 of -O3's CPU time, and the kernels'
# ``omp simd`` loops still vectorize at -O1 (measured: the same loops vectorized).
LARGE_SOURCE = 1_000_000
LARGE_SOURCE_FLAGS = ("-O1",)


def render_source(program, blas: bool = True) -> tuple[ProgramIR, str]:
    """(kernel IR, the C translation unit) of ``program``; nothing is compiled. Without
    ``blas`` the source has no BLAS path, so its library is not the one BLAS uses (the
    BLAS pointers are globals of a library shared by every compile of the same text)."""
    pir, source, _ = render_units(program, blas)
    return pir, source


def render_units(program, blas: bool = True,
                 unit_bytes: int | None = None) -> tuple[ProgramIR, str, list]:
    """(kernel IR, the C translation unit, the same program as several translation units
    to compile in parallel, or [] when one is enough: ``c_units``)."""
    d = C if blas else C_WITHOUT_BLAS
    pir = lower(program, reserved=d.scope() | HOST_SCOPE | Scope(c_blas.HOST_NAMES))
    kernels, same_as = c_units.distinct_kernels(pir, d)
    host = c_host.render_host(pir, d, same_as)
    units = c_units.translation_units(pir, d, kernels, host,
                                      c_units.UNIT_BYTES if unit_bytes is None else unit_bytes)
    return pir, d.render(pir, host, kernels), units


def render_header(pir: ProgramIR) -> str:
    pre = prefix(pir)
    guard = pre.upper() + "_H"
    lines = [f"/* {pir.name}: host API of the graphc-generated C library. */",
             f"#ifndef {guard}", f"#define {guard}", "#include <stdint.h>",
             "/* inputs: " + ", ".join(f"{b.name} ({b.dtype})" for b in pir.inputs),
             " * params: " + ", ".join(f"{b.name} ({b.dtype})" for b in pir.params),
             " * results: " + ", ".join(f"{b.name} ({b.dtype})" for b in pir.results),
             f" * sizes: {', '.join(pir.sym_order) or '(none)'} */",
             f"int64_t {pre}_workspace_bytes(const int64_t* sizes);",
             f"int {pre}_run(void* const* inputs, void* const* params, void* const* results, "
             "const int64_t* sizes, void* workspace);"]
    if any(k.kind == "linalg" for k in pir.kernels):
        lines += c_lapack.header_lines(pre)
    lines += ["#endif", ""]
    return "\n".join(lines)


class CExecutable:
    """What ``build`` returns: source, stats, __call__, export."""

    def __init__(self, program, pir: ProgramIR, source: str, runner: NativeRunner):
        self.program, self.pir = program, pir
        self.source = {f"{pir.name}.c": source}
        self.runner = runner
        runner.n_updates = len(program.updates)
        self.stats = kernel_stats(pir)

    def __call__(self, inputs, params, bindings):
        return self.runner(inputs, params, bindings)

    def export(self, directory: str, name: str | None = None) -> list:
        return native_export.export_c(self, directory, name or self.pir.name,
                                      header=render_header(self.pir), entry_prefix=prefix(self.pir))


_BLAS: list = []


def numpy_blas() -> tuple:
    """Addresses of ``cblas_sgemm``/``cblas_dgemm``/``cblas_sgemv``/``cblas_dgemv``
    (64-bit ints) in the OpenBLAS that NumPy ships, or Nones: matmuls then run the
    generated kernels."""
    if _BLAS:
        return _BLAS[0]
    found: tuple = (None,) * 4
    try:
        libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
        for path in sorted(glob.glob(os.path.join(libdir, "libscipy_openblas64_*.so"))):
            lib = ctypes.CDLL(path)
            found = tuple(ctypes.cast(getattr(lib, f"scipy_cblas_{f}64_"), ctypes.c_void_p).value
                          for f in ("sgemm", "dgemm", "sgemv", "dgemv"))
            _BLAS_KEEP.append(lib)
            break
    except (OSError, AttributeError):
        found = (None,) * 4
    _BLAS.append(found)
    return found


_BLAS_KEEP: list = []


def build(program, **options) -> "CExecutable | native_loops.StagedExecutable":
    """Lower, render and compile ``program`` for the CPU."""
    toolchain.require("c")
    if native_loops.has_loops(program):   # loops: staged programs (codegen/native_loops)
        return native_loops.build_staged(program, build, options, "c")
    blas = bool(options.get("blas", True) and program.options.get("blas", True))
    pir, source, units = render_units(program, blas)
    # OpenMP threads that spin after a region starve BLAS threads and everything else on
    # a busy machine; sleeping waiters cost microseconds per region (set before libgomp
    # loads; the user's own setting wins)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    flags = EXTRA_FLAGS + (LARGE_SOURCE_FLAGS if len(source) > LARGE_SOURCE else ())
    name = sanitize_names([program.name])[0]
    try:
        lib = toolchain.compile_and_load(source, "c", flags=flags, name=name, units=tuple(units))
    except CompileError as err:
        if not units:
            raise explain_compile_error(err, source, pir) from err
        try:   # the single unit: its error, if any, points into the source the user sees
            lib = toolchain.compile_and_load(source, "c", flags=flags, name=name)
        except CompileError as err1:
            raise explain_compile_error(err1, source, pir) from err1
    pre = prefix(pir)
    run = getattr(lib, f"{pre}_run")
    run.restype = ctypes.c_int
    run.argtypes = [ctypes.c_void_p] * 5
    if blas:
        setter = getattr(lib, f"{pre}_set_blas")
        setter.restype = None
        setter.argtypes = [ctypes.c_void_p] * 4
        setter(*numpy_blas())
    wsb = getattr(lib, f"{pre}_workspace_bytes")
    wsb.restype = ctypes.c_int64
    wsb.argtypes = [ctypes.c_void_p]
    runner = NativeRunner(pir, run, wsb)
    if any(k.kind == "linalg" for k in pir.kernels):
        setter = getattr(lib, f"{pre}_set_lapack")
        setter.restype = None
        setter.argtypes = [ctypes.c_void_p]
        setter(ctypes.cast(c_lapack.numpy_lapack(), ctypes.c_void_p))
        runner.linalg_fault = getattr(lib, f"{pre}_linalg_fault")
        runner.linalg_fault.restype = ctypes.c_int64
        runner.linalg_fault.argtypes = []
    if pir.index_sites:
        runner.index_fault = getattr(lib, f"{pre}_index_fault")
        runner.index_fault.restype = None
        runner.index_fault.argtypes = [ctypes.c_void_p]
    return CExecutable(program, pir, source, runner)
