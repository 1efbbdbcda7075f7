"""backend="c": the fused kernels rendered as C for the CPU (the C dialect of
``c_family``), compiled with the system C compiler (OpenMP when available; with
glibc's SIMD libm, libmvec, when toolchain.vector_math_available(), so loops calling
exp/tanh/sin... vectorize without -ffast-math) into a shared library; a whole call is ONE ctypes call into a generated host function that
runs every kernel in order over a workspace laid out by the memory plan.

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
import os
import sys

import numpy as np

from ..errors import CompileError
from . import c_family
from .c_family import C, _bytes_expr, _plan_dims, memory_plan
from .kernel_ir import ProgramIR, lower
from .naming import sanitize_names


# No -ffast-math (results must match NumPy's, NaN and Inf included), but FP exceptions are
# never trapped and libm's errno is never read: this lets the compiler vectorize
# branch-free selects (gc_expf, clamps) and sqrt.
EXTRA_FLAGS = ("-fno-trapping-math", "-fno-math-errno")


def prefix(pir: ProgramIR) -> str:
    return "graphc_" + sanitize_names([pir.name])[0]


def workspace_layout(pir: ProgramIR) -> tuple[list, dict]:
    """(C lines computing ``off_b`` for each planned buffer, temp name -> buffer index)."""
    plan = memory_plan(pir)
    lines = ["    int64_t ws_total = 0;"]
    for b in plan.buffers:
        lines.append(f"    const int64_t off_{b.index} = ws_total; "
                     f"ws_total += ({_bytes_expr(b.dtype, b.dims)} + 63) / 64 * 64;")
    return lines, {t.name: plan.buffer_of[t.name] for t in pir.temps if t.name in plan.buffer_of}


def _sizes_lines(pir: ProgramIR) -> list:
    return [f"    const int64_t {s} = sizes[{k}]; (void){s};" for k, s in enumerate(pir.sym_order)]


BLAS_DECL = """\
/* Optional BLAS (cblas_?gemm with 64-bit ints), set by <prefix>_set_blas; when unset,
 * matmuls run the generated kernels above. */
typedef void (*gc_sgemm_t)(int, int, int, int64_t, int64_t, int64_t, float, const float*,
                           int64_t, const float*, int64_t, float, float*, int64_t);
typedef void (*gc_dgemm_t)(int, int, int, int64_t, int64_t, int64_t, double, const double*,
                           int64_t, const double*, int64_t, double, double*, int64_t);
static gc_sgemm_t gc_sgemm = 0;
static gc_dgemm_t gc_dgemm = 0;
"""


def _gemm_lines(pir: ProgramIR) -> tuple[list, dict]:
    """Workspace lines reserving the BLAS output scratch; kernel name -> BLAS plan."""
    plans = {k.name: c_family.blas_plan(k) for k in pir.kernels}
    plans = {n: p for n, p in plans.items() if p is not None}
    lines = ["    int64_t gemm_bytes = 0;"]
    for name, p in plans.items():
        k = next(k for k in pir.kernels if k.name == name)
        lines.append(f"    {{ const int64_t b = (int64_t){p['size'].c()} * "
                     f"{np.dtype(k.acc_dtype).itemsize}; if (b > gemm_bytes) gemm_bytes = b; }}")
    lines.append("    const int64_t off_gemm = ws_total; ws_total += (gemm_bytes + 63) / 64 * 64;"
                 " (void)off_gemm;")
    return lines, plans


def _blas_call(k, plan: dict, pir: ProgramIR, d) -> list:
    T = "float" if k.acc_dtype == "float32" else "double"
    fn = "gc_sgemm" if T == "float" else "gc_dgemm"
    _, args = c_family.c_epilogue_kernel(k, pir.buffers, d)
    _, full = c_family._signature(k, pir.buffers, d)
    ta, tb = (112 if plan["ta"] else 111), (112 if plan["tb"] else 111)
    return [f"    if ({fn}) {{   /* {k.name} through BLAS, then its epilogue */",
            f"        {T}* gemm_out = ({T}*)(ws + off_gemm);",
            f"        {fn}(101, {ta}, {tb}, {plan['M'].c()}, {plan['N'].c()}, {plan['K'].c()}, 1, "
            f"{plan['a']}, {plan['lda'].c()}, {plan['b']}, {plan['ldb'].c()}, 0, gemm_out, "
            f"{plan['N'].c()});",
            f"        {k.name}_epilogue({', '.join(args)});",
            "    } else {",
            f"        {k.name}({', '.join(full)});",
            "    }"]


def render_host(pir: ProgramIR, d) -> str:
    """C host: ``<prefix>_workspace_bytes(sizes)`` and ``<prefix>_run(...)``."""
    pre = prefix(pir)
    ws_lines, where = workspace_layout(pir)
    gemm_lines, plans = _gemm_lines(pir)
    ws_lines = ws_lines + gemm_lines
    out = [BLAS_DECL, f"void {pre}_set_blas(void* sgemm, void* dgemm) {{",
           "    gc_sgemm = (gc_sgemm_t)sgemm;", "    gc_dgemm = (gc_dgemm_t)dgemm;", "}", "",
           f"/* Host API: see {pir.name}.h. sizes[] holds the run-time dims "
           f"({', '.join(pir.sym_order) or 'none'}). */",
           f"int64_t {pre}_workspace_bytes(const int64_t* sizes) {{"]
    out += _sizes_lines(pir) + ws_lines + ["    return ws_total;", "}", ""]
    out.append(f"int {pre}_run(void* const* inputs, void* const* params, void* const* results,")
    out.append(f"        const int64_t* sizes, void* workspace) {{")
    out += _sizes_lines(pir) + ws_lines + ["    char* ws = (char*)workspace; (void)ws;"]
    for b in pir.inputs:
        out.append(f"    const {b.ctype}* {b.name} = (const {b.ctype}*)inputs[{b.index}];")
    for b in pir.params:
        out.append(f"    const {b.ctype}* {b.name} = (const {b.ctype}*)params[{b.index}];")
    for b in pir.consts:
        out.append(f"    const {b.ctype}* {b.name} = {b.name}_host;")
    for b in pir.results:
        out.append(f"    {b.ctype}* {b.name} = ({b.ctype}*)results[{b.index}];")
    for t in pir.temps:
        if t.name in where:
            out.append(f"    {t.ctype}* {t.name} = ({t.ctype}*)(ws + off_{where[t.name]});")
    for k in pir.kernels:
        if k.name in plans:
            out += _blas_call(k, plans[k.name], pir, d)
            continue
        _, args = c_family._signature(k, pir.buffers, d)
        out.append(f"    {k.name}({', '.join(args)});")
    out += ["    return 0;", "}"]
    return "\n".join(out)


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
             "const int64_t* sizes, void* workspace);", "#endif", ""]
    return "\n".join(lines)


# reuse an unreferenced result array (reference counts as CPython <= 3.13 reports them)
REUSE_RESULTS = sys.implementation.name == "cpython" and sys.version_info < (3, 14)


def c_pointers(arrays) -> ctypes.Array:
    """A C array of the arrays' data pointers (never empty: C has no zero-length arrays)."""
    return (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])


class NativeRunner:
    """Calls a generated ``run`` entry point: allocates results, keeps the workspace."""

    def __init__(self, pir: ProgramIR, run, workspace_bytes):
        self.pir = pir
        self.run = run
        self.workspace_bytes = workspace_bytes
        self._ws: dict = {}
        self.dim_of = {c: g for g, c in pir.sym_names.items()}

    def sizes(self, bindings: dict) -> tuple:
        return tuple(int(bindings[self.dim_of[s]]) for s in self.pir.sym_order)

    def shape(self, buf, sizes: dict) -> tuple:
        return tuple(m.coef * int(np.prod([sizes[s] for s in m.syms], dtype=np.int64))
                     for m in buf.dims)

    def all_params(self, params) -> list:
        """The caller's parameter values, then the large constants passed at run time."""
        return list(params) + [n.value for n in self.pir.param_nodes[len(params):]]

    def results(self, size_map: dict) -> list:
        """Result arrays: last call's arrays when nothing else references them any more
        (their pages are already mapped: no page faults on large outputs), else new."""
        out = []
        last = getattr(self, "_last", [])
        for k, b in enumerate(self.pir.results):
            shape = self.shape(b, size_map)
            old = last[k] if k < len(last) else None
            # references: the list ``last``, the name ``old``, getrefcount's argument
            if REUSE_RESULTS and old is not None and old.shape == shape and \
                    sys.getrefcount(old) == 3:
                out.append(old)
            else:
                out.append(np.empty(shape, dtype=b.dtype))
            old = None
        self._last = out
        return out

    def marshal(self, inputs, params, bindings):
        """What a generated entry point takes: run-time sizes (a tuple and a C array), the
        inputs and all parameters as contiguous arrays of their dtypes, the result arrays."""
        pir = self.pir
        sizes = self.sizes(bindings)
        c_sizes = (ctypes.c_int64 * max(len(sizes), 1))(*sizes)
        ins = [np.ascontiguousarray(a, dtype=b.dtype) for a, b in zip(inputs, pir.inputs)]
        params = self.all_params(params)
        ps = [np.ascontiguousarray(a, dtype=b.dtype) for a, b in zip(params, pir.params)]
        res = self.results(dict(zip(pir.sym_order, sizes)))
        return sizes, c_sizes, ins, params, ps, res

    def __call__(self, inputs, params, bindings):
        pir = self.pir
        sizes, c_sizes, ins, params, ps, res = self.marshal(inputs, params, bindings)
        ws = self._ws.get(sizes)
        if ws is None:
            ws = np.empty(max(int(self.workspace_bytes(c_sizes)), 64), dtype=np.uint8)
            self._ws = {sizes: ws}
        rc = self.run(c_pointers(ins), c_pointers(ps), c_pointers(res), c_sizes,
                      ctypes.c_void_p(ws.ctypes.data))
        if rc != 0:
            raise CompileError(f"generated code for {pir.name!r} failed (code {rc})")
        return self.collect(res, inputs, params)

    def collect(self, res, inputs, params):
        """Outputs and new parameter values from the results (copies where shared)."""
        pir = self.pir
        values, used = [], set()
        for kind, k in pir.root_sources:
            if kind == "result":
                v = res[k]
                if k in used:
                    v = v.copy()
                used.add(k)
            elif kind == "input":
                v = np.array(inputs[k], dtype=pir.inputs[k].dtype, copy=True)
            elif kind == "param":
                v = np.array(params[k], dtype=pir.params[k].dtype, copy=True)
            else:
                v = np.array(k.value, copy=True)
            values.append(v)
        n_out = len(pir.root_sources) - self.n_updates
        return values[:n_out], values[n_out:]

    n_updates = 0


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
        from .native_export import export_c
        return export_c(self, directory, name or self.pir.name)


def kernel_stats(pir: ProgramIR) -> dict:
    return {"kernels": len(pir.kernels),
            "fused": [{"name": k.name, "kind": k.kind, "ops": list(k.ops)} for k in pir.kernels],
            "temps": len(pir.temps)}


_BLAS: list = []


def numpy_blas() -> tuple:
    """Addresses of ``cblas_sgemm``/``cblas_dgemm`` (64-bit ints) in the OpenBLAS that
    NumPy ships, or (None, None): matmuls then run the generated kernels."""
    if _BLAS:
        return _BLAS[0]
    found = (None, None)
    try:
        import glob
        libdir = os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs")
        for path in sorted(glob.glob(os.path.join(libdir, "libscipy_openblas64_*.so"))):
            lib = ctypes.CDLL(path)
            s = ctypes.cast(lib.scipy_cblas_sgemm64_, ctypes.c_void_p).value
            d = ctypes.cast(lib.scipy_cblas_dgemm64_, ctypes.c_void_p).value
            _BLAS_KEEP.append(lib)
            found = (s, d)
            break
    except (OSError, AttributeError):
        found = (None, None)
    _BLAS.append(found)
    return found


_BLAS_KEEP: list = []


def build(program, **options) -> CExecutable:
    """Lower, render and compile ``program`` for the CPU."""
    from . import toolchain
    toolchain.require("c")
    pir = lower(program)
    source = c_family.render(pir, C)
    # OpenMP threads that spin after a region starve BLAS threads and everything else on
    # a busy machine; sleeping waiters cost microseconds per region (set before libgomp
    # loads; the user's own setting wins)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    lib = toolchain.compile_and_load(source, "c", flags=EXTRA_FLAGS,
                                     name=sanitize_names([program.name])[0])
    pre = prefix(pir)
    run = getattr(lib, f"{pre}_run")
    run.restype = ctypes.c_int
    run.argtypes = [ctypes.c_void_p] * 5
    sgemm, dgemm = numpy_blas()
    setter = getattr(lib, f"{pre}_set_blas")
    setter.restype = None
    setter.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    if options.get("blas", True) and program.options.get("blas", True):
        setter(sgemm, dgemm)
    wsb = getattr(lib, f"{pre}_workspace_bytes")
    wsb.restype = ctypes.c_int64
    wsb.argtypes = [ctypes.c_void_p]
    return CExecutable(program, pir, source, NativeRunner(pir, run, wsb))
