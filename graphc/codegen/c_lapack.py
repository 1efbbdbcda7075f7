"""The C backend's LAPACK path for linear-algebra kernels: LAPACKE (row-major, 64-bit
ints) and ``cblas_?trsm`` from the OpenBLAS that NumPy ships, found like the GEMM
(``c_backend.numpy_blas``) and installed through ``<prefix>_set_lapack`` at load time.
Matrices of at least ``LAPACK_MIN_N`` rows go through LAPACK when its pointer is set;
smaller ones (and every matrix when LAPACK is absent, or in an exported library whose
host never calls the setter) run the generated loops of ``linalg_kernels``.

Also here: the run-time failure flag of the C dialect (``gc_linalg_fault``: the first
failing kernel's site; ``<prefix>_run`` returns ``LINALG_FAULT`` and the runner raises
``LinAlgError`` with that site's message).

>>> lapack_code({"op": "cholesky", "n": 64, "m": 64, "k": 0, "attrs": {},
...              "dtype": "float64"})[0]
'gc_lapack[0]'
"""
from __future__ import annotations

import ctypes
import glob
import os

import numpy as np

LAPACK_MIN_N = 48     # smaller matrices: the generated loops (no LAPACKE call overhead)
LINALG_FAULT = 4      # ``run``'s code for a failed factorization (native_host.LINALG_FAULT)

# the entry points, in the order of the C table ``gc_lapack[]``: (float64, float32) names
ROUTINES = ("potrf", "gesv", "getrf", "syevd", "geqrf", "orgqr", "trsm")


def _slot(name: str, dtype: str) -> int:
    return 2 * ROUTINES.index(name) + (dtype == "float32")


def _fn(name: str, dtype: str, ret: str, args: str) -> str:
    """A call through the table: ``((ret (*)(args))gc_lapack[slot])``."""
    return f"(({ret} (*)({args}))gc_lapack[{_slot(name, dtype)}])"


HELPERS = """\
#include <stdlib.h>
/* linear algebra: the first failing kernel's site (its message is on the host side), and
 * the optional LAPACK entry points (LAPACKE row-major, cblas trsm; 64-bit ints), set by
 * <prefix>_set_lapack: float64 and float32 of potrf, gesv, getrf, syevd, geqrf, orgqr, trsm */
static int64_t gc_linalg_fault = -1;
static inline void gc_linalg_fail(int64_t site) {
    if (site >= 0) __sync_bool_compare_and_swap(&gc_linalg_fault, (int64_t)-1, site);
}
static void* gc_lapack[14] = {0};
"""


def host_functions(prefix: str) -> list:
    """``<prefix>_set_lapack(fns)`` and ``<prefix>_linalg_fault()``."""
    return [f"void {prefix}_set_lapack(void* const* fns) {{",
            "    for (int i = 0; i < 14; ++i) gc_lapack[i] = fns[i];", "}",
            f"int64_t {prefix}_linalg_fault(void) {{ return gc_linalg_fault; }}", ""]


def header_lines(prefix: str) -> list:
    """What an exported library's header says about its linear algebra: what it links (no
    library: generated loops) and how to hand it LAPACK."""
    names = ", ".join(f"{t}{r}" for r in ROUTINES for t in "ds")
    return ["/* Linear algebra runs generated loops (no library linked). To run matrices of",
            f" * {LAPACK_MIN_N} rows and more through LAPACK instead, pass the addresses of "
            "LAPACKE (row-major,",
            " * 64-bit ints; cblas for trsm) in this order, NULL where missing:",
            f" * {names}. NumPy's OpenBLAS",
            " * (numpy.libs/libscipy_openblas64_*.so) exports them as scipy_LAPACKE_<name>64_ "
            "and",
            " * scipy_cblas_<name>64_. run returns 4 when a factorization fails (a matrix that "
            "is not",
            f" * positive definite, a singular one); {prefix}_linalg_fault() names the failing "
            "kernel's site. */",
            f"void {prefix}_set_lapack(void* const* fns);",
            f"int64_t {prefix}_linalg_fault(void);"]


def lapack_code(spec: dict) -> tuple[str, list] | None:
    """(the C condition under which LAPACK runs, its lines) for one matrix, or None."""
    op, n, m, k, T, dt = spec["op"], spec["n"], spec["m"], spec["k"], None, spec["dtype"]
    if max(n, m) < LAPACK_MIN_N:
        return None
    T = "double" if dt == "float64" else "float"
    I = "int64_t"
    if op == "cholesky":
        f = _fn("potrf", dt, I, f"int, char, {I}, {T}*, {I}")
        return f"gc_lapack[{_slot('potrf', dt)}]", [
            f"for (int64_t la_i = 0; la_i < {n}; ++la_i)",
            f"    for (int64_t la_j = 0; la_j < {n}; ++la_j)",
            f"        la_out[la_i * {n} + la_j] = la_j <= la_i ? la_a[la_i * {n} + la_j] : ({T})0;",
            # column-major 'U' on the same memory: the row-major lower factor in place,
            # without LAPACKE's row-major copy of the matrix (n x n allocated per call)
            f"la_info = {f}(102, 'U', {n}, la_out, {n});"]
    if op == "solve_triangular":
        a = spec["attrs"]
        f = _fn("trsm", dt, "void", f"int, int, int, int, int, {I}, {I}, {T}, const {T}*, {I}, "
                f"{T}*, {I}")
        return f"gc_lapack[{_slot('trsm', dt)}]", [
            f"for (int64_t la_i = 0; la_i < {n * k}; ++la_i) la_out[la_i] = la_b[la_i];",
            *([] if a["unit_diagonal"] else [
                f"for (int64_t la_i = 0; la_i < {n}; ++la_i) "
                f"if (la_a[la_i * {n} + la_i] == 0) la_info = 1;   /* singular */"]),
            f"if (!la_info) {f}(101, 141, {122 if a['lower'] else 121}, "
            f"{112 if a['trans'] else 111}, {132 if a['unit_diagonal'] else 131}, {n}, {k}, "
            f"1, la_a, {n}, la_out, {k});"]
    if op == "solve":
        f = _fn("gesv", dt, I, f"int, {I}, {I}, {T}*, {I}, {I}*, {T}*, {I}")
        return f"gc_lapack[{_slot('gesv', dt)}]", [
            f"for (int64_t la_i = 0; la_i < {n * n}; ++la_i) la_w[la_i] = la_a[la_i];",
            f"for (int64_t la_i = 0; la_i < {n * k}; ++la_i) la_out[la_i] = la_b[la_i];",
            f"la_info = {f}(101, {n}, {k}, la_w, {n}, la_piv, la_out, {k});"]
    if op in ("logabsdet", "det_sign"):
        from .linalg_kernels import matrix_code
        f = _fn("getrf", dt, I, f"int, {I}, {I}, {T}*, {I}, {I}*")
        loops = matrix_code(spec, T, "sqrt", "fabs")
        det = loops[loops.index(f"{T} la_sign = 1, la_logabs = 0;"):]
        return f"gc_lapack[{_slot('getrf', dt)}]", [
            f"for (int64_t la_i = 0; la_i < {n * n}; ++la_i) la_w[la_i] = la_a[la_i];",
            f"la_info = {f}(101, {n}, {n}, la_w, {n}, la_piv);",
            f"for (int64_t la_i = 0; la_i < {n}; ++la_i) la_piv[la_i] -= 1;   /* 1-based */",
            *det]
    if op in ("eigvalsh", "eigh_vectors"):
        from .linalg_kernels import sort_and_sign
        f = _fn("syevd", dt, I, f"int, char, char, {I}, {T}*, {I}, {T}*")
        vectors = op == "eigh_vectors"
        lines = [f"for (int64_t la_i = 0; la_i < {n * n}; ++la_i) la_w[la_i] = la_a[la_i];",
                 f"la_info = {f}(101, '{'V' if vectors else 'N'}', 'L', {n}, la_w, {n}, "
                 f"la_w + {n * n});"]
        if vectors:
            lines += sort_and_sign(n, T, "fabs", f"(la_w + {n * n})", 1, "la_w")
            lines.append(f"for (int64_t la_i = 0; la_i < {n * n}; ++la_i) la_out[la_i] = la_w[la_i];")
        else:
            lines.append(f"for (int64_t la_i = 0; la_i < {n}; ++la_i) "
                         f"la_out[la_i] = la_w[{n * n} + la_i];")
        return f"gc_lapack[{_slot('syevd', dt)}]", lines
    if op in ("qr_q", "qr_r"):
        kk = min(m, n)
        geqrf = _fn("geqrf", dt, I, f"int, {I}, {I}, {T}*, {I}, {T}*")
        lines = [f"for (int64_t la_i = 0; la_i < {m * n}; ++la_i) la_w[la_i] = la_a[la_i];",
                 f"la_info = {geqrf}(101, {m}, {n}, la_w, {n}, la_w + {m * n});"]
        cond = f"gc_lapack[{_slot('geqrf', dt)}]"
        if op == "qr_r":
            lines += [f"for (int64_t la_i = 0; la_i < {kk}; ++la_i)",
                      f"    for (int64_t la_j = 0; la_j < {n}; ++la_j)",
                      f"        la_out[la_i * {n} + la_j] = la_j >= la_i ? la_w[la_i * {n} + la_j]"
                      f" : ({T})0;"]
            return cond, lines
        orgqr = _fn("orgqr", dt, I, f"int, {I}, {I}, {I}, {T}*, {I}, const {T}*")
        lines += [f"if (!la_info) la_info = {orgqr}(101, {m}, {kk}, {kk}, la_w, {n}, "
                  f"la_w + {m * n});",
                  f"for (int64_t la_i = 0; la_i < {m}; ++la_i)",
                  f"    for (int64_t la_c = 0; la_c < {kk}; ++la_c)",
                  f"        la_out[la_i * {kk} + la_c] = la_w[la_i * {n} + la_c];"]
        return f"{cond} && gc_lapack[{_slot('orgqr', dt)}]", lines
    return None


_LAPACK: list = []
_KEEP: list = []


def numpy_lapack() -> ctypes.Array:
    """The table of entry-point addresses (``ROUTINES``, float64 then float32 each) in
    NumPy's OpenBLAS; zeros where a symbol is missing (those ops run the loops)."""
    if _LAPACK:
        return _LAPACK[0]
    addresses: list[int | None] = [None] * (2 * len(ROUTINES))
    try:
        libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
        for path in sorted(glob.glob(os.path.join(libdir, "libscipy_openblas64_*.so"))):
            lib = ctypes.CDLL(path)
            _KEEP.append(lib)
            for r, name in enumerate(ROUTINES):
                for p, t in enumerate("ds"):
                    sym = (f"scipy_cblas_{t}{name}64_" if name == "trsm"
                           else f"scipy_LAPACKE_{t}{name}64_")
                    fn = getattr(lib, sym, None)
                    if fn is not None:
                        addresses[2 * r + p] = ctypes.cast(fn, ctypes.c_void_p).value
            break
    except OSError:
        pass
    table = (ctypes.c_void_p * len(addresses))(*addresses)
    _LAPACK.append(table)
    return table
