"""The one C-family renderer: kernel IR -> C (CPU) or CUDA C source.

Both dialects share everything that is about the computation (instructions from the
ops' C templates, strided loads, stores, comments, constants, the memory plan, the
host function that runs every kernel in order); a ``Dialect`` holds what differs:
qualifiers, how an index space is walked (nested loops + OpenMP vs. grid-stride
threads), reductions (loop vs. block reduction), the GEMM (blocked loops vs. a
shared-memory tiled kernel), math names, launches and device memory.

>>> import graphc as gc
>>> from graphc.codegen.base import Program
>>> from graphc.codegen.kernel_ir import lower
>>> x = gc.placeholder("x", (8,))
>>> src = render(lower(Program("f", (x,), (), (gc.exp(x),))), C)
>>> "expf(" in src
True
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..passes.memory import Step, Value, plan_memory
from .kernel_ir import Block, BufferRef, KernelIR, Mono, ProgramIR, ctype

MATH = ("exp", "log", "sin", "cos", "tan", "tanh", "sqrt", "fabs", "log1p", "expm1", "pow",
        "fmax", "fmin", "floor", "ceil")
_MATH_RE = re.compile(r"\b(" + "|".join(MATH) + r")\(")
ALIGN = 64


@dataclass(frozen=True)
class Dialect:
    """Per-dialect overrides of the C-family renderer."""

    name: str                       # "c" | "cuda"
    gpu: bool                       # threads (CUDA) or loops (C)
    kernel_qual: str                # before a kernel's return type
    restrict: str
    index_t: str                    # 64-bit index type
    sum_acc_f32: str                # accumulator of float32 sums
    prelude: str
    host_qual: str                  # before the host entry points
    par_threshold: int = 1 << 20    # C: OpenMP only when the work pays for it (and does
                                    # not fight BLAS threads on small kernels)
    block: int = 256                # CUDA: threads per block
    f32_names: tuple = ()           # (C double name, this dialect's float32 function)
    f64_names: tuple = ()           # (C double name, this dialect's float64 function)

    def math(self, text: str, dtype: str) -> str:
        """Math names for ``dtype``: C double names get the ``f`` suffix for float32
        (or the dialect's own function, e.g. a vectorizable exp on the CPU)."""
        if dtype != "float32":
            own = dict(self.f64_names)
            if not own or dtype != "float64":
                return text
            return _MATH_RE.sub(lambda m: own.get(m.group(1), m.group(1)) + "(", text)
        own = dict(self.f32_names)
        return _MATH_RE.sub(lambda m: own.get(m.group(1), m.group(1) + "f") + "(", text)


# exp for float32 as straight-line code the compiler vectorizes (libm's expf is a call
# it cannot, without -ffast-math): Cephes' range reduction + degree-6 polynomial, about
# 1 ulp; exact Inf/NaN/0 limits, gradual underflow like libm.
GC_EXPF = """\
static inline float gc_expf(float x) {
    const float xc = x > 88.7228317f ? 88.7228317f : (x < -104.0f ? -104.0f : x);
    /* n = floor(xc*log2(e) + 1/2) by truncating a positive number (no SSE4.1 floor) */
    const float n = (float)((int32_t)(xc * 1.44269504088896341f + 256.5f) - 256);
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float y = p * r * r + r + 1.0f;
    const int32_t ni = (int32_t)n, h = ni >> 1;    /* 2^n as two factors: no overflow */
    union { int32_t i; float f; } s1, s2;
    s1.i = (h + 127) << 23;
    s2.i = (ni - h + 127) << 23;
    float out = (y * s1.f) * s2.f;
    out = x > 88.7228317f ? INFINITY : out;   /* the largest float with a finite exp */
    out = x < -103.972077f ? 0.0f : out;
    return x != x ? x : out;
}
"""

# libm functions whose glibc SIMD variants (libmvec, <= 4 ulp in float64 and float32,
# exact NaN/Inf/overflow handling by falling back to the scalar function per lane) the
# kernels may call: declared ``omp declare simd`` so GCC vectorizes loops calling them.
# Only under GC_VECTOR_MATH, which toolchain sets (with -lmvec) after its probe passed;
# elsewhere the loops call the scalar functions as before. (float32 exp is gc_expf.)
VECTOR_MATH = ("exp", "log", "sin", "cos", "tan", "tanh", "log1p", "expm1", "pow")


def _vector_math_decls() -> str:
    lines = ["#ifdef GC_VECTOR_MATH   /* glibc libmvec: vectorized libm calls */"]
    for name in VECTOR_MATH:
        for t, suffix in (("double", ""), ("float", "f")):
            args = ", ".join([t] * (2 if name == "pow" else 1))
            lines += ["#pragma omp declare simd notinbranch", f"{t} {name}{suffix}({args});"]
    # cos under its own name (the same symbol): GCC merges sin(x) and cos(x) of one x
    # into a sincos call, which stops the loop vectorizing
    lines += ["#pragma omp declare simd notinbranch",
              '__attribute__((const)) double gc_cos(double) __asm__("cos");',
              "#pragma omp declare simd notinbranch",
              '__attribute__((const)) float gc_cosf(float) __asm__("cosf");',
              "#else", "#define gc_cos cos", "#define gc_cosf cosf", "#endif"]
    return "\n".join(lines) + "\n"


C = Dialect(
    name="c", gpu=False, kernel_qual="static void", restrict="restrict", index_t="int64_t",
    sum_acc_f32="double", host_qual="",
    prelude="#include <math.h>\n#include <stdbool.h>\n#include <stdint.h>\n#include <string.h>\n"
            "#define GC_INFINITY INFINITY\n"
            "static inline float gc_maxf(float a, float b) { return (a > b || a != a) ? a : b; }\n"
            "static inline double gc_maxd(double a, double b) { return (a > b || a != a) ? a : b; }\n"
            + GC_EXPF + _vector_math_decls(),
    f32_names=(("exp", "gc_expf"), ("cos", "gc_cosf")), f64_names=(("cos", "gc_cos"),))

CUDA = Dialect(
    name="cuda", gpu=True, kernel_qual="__global__ void", restrict="GC_RESTRICT",
    index_t="gc_index_t", sum_acc_f32="float", host_qual="GC_EXPORT ",
    prelude='#include "graphc_cuda.h"\n#include <stdbool.h>\n')


# ---- shared pieces -------------------------------------------------------------------------

def _offset(strides: tuple, ivars: list) -> str:
    terms = []
    for s, v in zip(strides, ivars):
        if s.is_zero:
            continue
        terms.append(v if s == Mono(1) else f"{v}*{s.c()}")
    return " + ".join(terms) if terms else "0"


def _instr(ins, ivars: list, d: Dialect) -> str:
    t = ctype(ins.dtype)
    if ins.op == "load":
        return f"const {t} {ins.name} = {ins.buf}[{_offset(ins.strides, ivars)}];"
    if ins.op == "index":
        return f"const {d.index_t} {ins.name} = {ivars[ins.axis]};"
    text = ins.template.format(*ins.args, dtype=t)
    return f"const {t} {ins.name} = {d.math(text, ins.dtype)};"


def _block(blk: Block, ivars: list, d: Dialect, indent: str, guard: str = "") -> list:
    lines = [indent + _instr(i, ivars, d) for i in blk.instrs]
    for s in blk.stores:
        stmt = f"{s.buf}[{_offset(s.strides, ivars)}] = {s.value};"
        lines.append(indent + (f"if ({guard}) {stmt}" if guard else stmt))
    return lines


def _decompose(var: str, axes: list, dimnames: list, indent: str, it: str) -> list:
    """Index variables of ``axes`` from a flat index ``var`` (last axis fastest)."""
    if not axes:
        return []
    if len(axes) == 1:
        return [f"{indent}const {it} i{axes[0]} = {var};"]
    lines = [f"{indent}{it} rem_{var} = {var};"]
    for a in reversed(axes[1:]):
        lines.append(f"{indent}const {it} i{a} = rem_{var} % {dimnames[a]}; rem_{var} /= {dimnames[a]};")
    lines.append(f"{indent}const {it} i{axes[0]} = rem_{var};")
    return lines


def _product(names: list) -> str:
    return "*".join(names) if names else "1"


def _signature(k: KernelIR, bufs: dict, d: Dialect) -> tuple[list, list]:
    """(C parameter declarations, argument names) of a kernel: sizes, reads, writes."""
    decl, args = [], []
    for s in k.sizes():
        decl.append(f"const int64_t {s}")
        args.append(s)
    written = k.buffers_written()
    for name in k.buffers_read():
        if name in written:
            continue
        decl.append(f"const {bufs[name].ctype}* {d.restrict} {name}")
        args.append(name)
    for name in written:
        decl.append(f"{bufs[name].ctype}* {d.restrict} {name}")
        args.append(name)
    return decl, args


def _header_comment(k: KernelIR) -> list:
    lines = [f"/* {k.name}: {k.kind} kernel fusing {len(k.ops)} ops"]
    for c in k.comments:
        lines.append(f" *   {c}")
    lines.append(" */")
    return lines


def _acc_type(op: str, dtype: str, d: Dialect) -> str:
    if op == "sum" and dtype == "float32":
        return d.sum_acc_f32
    if op == "sum" and dtype in ("bool", "int32"):
        return "int64_t"
    return ctype(dtype)


def _identity(op: str, dtype: str) -> str:
    if op == "sum":
        return "0"
    if np.dtype(dtype).kind == "f":
        return "(-GC_INFINITY)"
    return f"(({ctype(dtype)}){np.iinfo(np.dtype(dtype)).min}LL)" if dtype != "bool" else "false"


def _dims_lines(k: KernelIR, indent: str, it: str) -> tuple[list, list]:
    names = [f"N{j}" for j in range(len(k.dims))]
    lines = [f"{indent}const {it} N{j} = {m.c()};" for j, m in enumerate(k.dims)]
    return lines, names


# ---- C (CPU) kernels -----------------------------------------------------------------------

def _omp(k: KernelIR, d: Dialect, line: str) -> list:
    """``line`` (a ``#pragma omp parallel``), unless the kernel's size is known now and
    under the threshold: then its ``if`` clause is false on every call, yet GCC would
    still outline the loop for OpenMP, which more than doubles its compile time."""
    static = 1
    for m in k.dims:
        v = m.static()
        if v is None:
            return [line]
        static *= v
    return [] if static <= d.par_threshold else [line]


def _c_elementwise(k: KernelIR, d: Dialect) -> list:
    n = len(k.dims)
    lines, names = _dims_lines(k, "    ", "int64_t")
    ivars = [f"i{j}" for j in range(n)]
    if n == 0:
        return lines + ["    {"] + _block(k.body, ivars, d, "        ") + ["    }"]
    lines += _omp(k, d, f"    #pragma omp parallel for if ({_product(names)} > "
                        f"{d.par_threshold}) schedule(static)")
    indent = "    "
    for j in range(n):
        lines.append(f"{indent}for (int64_t i{j} = 0; i{j} < N{j}; ++i{j}) {{")
        indent += "    "
    lines += _block(k.body, ivars, d, indent)
    for j in reversed(range(n)):
        indent = indent[:-4]
        lines.append(indent + "}")
    return lines


COLUMN_BLOCK = 512   # C column reductions: columns accumulated together (fits L1/L2)


def _c_reduce_columns(k: KernelIR, d: Dialect) -> list:
    """A reduction whose innermost axis is kept (a column sum like ``sum(x, 0)``): rows
    are streamed in memory order into a block of per-column accumulators, so every load
    is contiguous and the inner loop vectorizes (the row-at-a-time form would stride)."""
    n = len(k.dims)
    lines, names = _dims_lines(k, "    ", "int64_t")
    outer = [a for a in range(n) if a not in k.reduce_axes]
    red = list(k.reduce_axes)
    ivars = [f"i{j}" for j in range(n)]
    B = COLUMN_BLOCK
    lines.append(f"    const int64_t O = {_product([names[a] for a in outer])};")
    lines.append(f"    const int64_t R = {_product([names[a] for a in red])};")
    lines += _omp(k, d, f"    #pragma omp parallel for if (O * R > {d.par_threshold} && "
                        f"O > {B}) schedule(static)")
    lines.append(f"    for (int64_t ob = 0; ob < O; ob += {B}) {{")
    lines.append(f"        const int64_t oe = ob + {B} < O ? ob + {B} : O;")
    for p in k.phases:
        lines.append(f"        {_acc_type(p.op, p.dtype, d)} acc_{p.result}[{B}];")

    def prior(upto):   # earlier row scalars of this column, as the names the IR uses
        return [f"            const {ctype(q.dtype)} {q.result} = ({ctype(q.dtype)})"
                f"acc_{q.result}[o - ob]; (void){q.result};" for q in k.phases[:upto]]
    for idx, p in enumerate(k.phases):
        acc = f"acc_{p.result}[o - ob]"
        lines.append(f"        for (int64_t o = ob; o < oe; ++o) {acc} = "
                     f"{_identity(p.op, p.dtype)};")
        lines.append("        for (int64_t r = 0; r < R; ++r) {")
        lines += _decompose("r", red, names, "            ", "int64_t")
        lines.append("            #pragma omp simd")
        lines.append("            for (int64_t o = ob; o < oe; ++o) {")
        lines += [("    " + x) for x in _decompose("o", outer, names, "            ", "int64_t")]
        lines += ["    " + x for x in prior(idx)]
        lines += _block(p.block, ivars, d, "                ")
        if p.op == "sum":
            lines.append(f"                {acc} += {p.value};")
        else:
            lines.append(f"                {acc} = ({p.value} > {acc} || {p.value} != {p.value})"
                         f" ? {p.value} : {acc};")
        lines += ["            }", "        }"]
    lines.append("        for (int64_t o = ob; o < oe; ++o) {")
    lines += _decompose("o", outer, names, "            ", "int64_t")
    lines += prior(len(k.phases))
    lines += _block(k.epilogue, ivars, d, "            ")
    lines.append("        }")
    if k.body.instrs or k.body.stores:
        lines.append("        for (int64_t r = 0; r < R; ++r) {")
        lines += _decompose("r", red, names, "            ", "int64_t")
        lines.append("            for (int64_t o = ob; o < oe; ++o) {")
        lines += ["    " + x for x in _decompose("o", outer, names, "            ", "int64_t")]
        lines += ["    " + x for x in prior(len(k.phases))]
        lines += _block(k.body, ivars, d, "                ")
        lines += ["            }", "        }"]
    lines.append("    }")
    return lines


def _c_reduce(k: KernelIR, d: Dialect) -> list:
    n = len(k.dims)
    if is_column_reduction(k):
        return _c_reduce_columns(k, d)
    lines, names = _dims_lines(k, "    ", "int64_t")
    outer = [a for a in range(n) if a not in k.reduce_axes]
    red = list(k.reduce_axes)
    ivars = [f"i{j}" for j in range(n)]
    lines.append(f"    const int64_t O = {_product([names[a] for a in outer])};")
    lines.append(f"    const int64_t R = {_product([names[a] for a in red])};")
    lines += _omp(k, d, f"    #pragma omp parallel for if (O * R > {d.par_threshold} && "
                        f"O > 1) schedule(static)")
    lines.append("    for (int64_t o = 0; o < O; ++o) {")
    lines += _decompose("o", outer, names, "        ", "int64_t")
    for p in k.phases:
        acc_t = _acc_type(p.op, p.dtype, d)
        lines.append(f"        {acc_t} a_{p.result} = {_identity(p.op, p.dtype)};")
        if p.op == "sum":
            lines.append(f"        #pragma omp simd reduction(+:a_{p.result})")
        elif np.dtype(p.dtype).kind == "f":
            lines.append(f"        int nan_{p.result} = 0;")
            lines.append(f"        #pragma omp simd reduction(max:a_{p.result}) "
                         f"reduction(|:nan_{p.result})")
        lines.append("        for (int64_t r = 0; r < R; ++r) {")
        lines += _decompose("r", red, names, "            ", "int64_t")
        lines += _block(p.block, ivars, d, "            ")
        if p.op == "sum":
            lines.append(f"            a_{p.result} += {p.value};")
        elif np.dtype(p.dtype).kind == "f":
            lines.append(f"            a_{p.result} = {p.value} > a_{p.result} ? {p.value} : "
                         f"a_{p.result};")
            lines.append(f"            nan_{p.result} |= {p.value} != {p.value};")
        else:
            lines.append(f"            a_{p.result} = {p.value} > a_{p.result} ? {p.value} : "
                         f"a_{p.result};")
        lines.append("        }")
        if p.op == "max" and np.dtype(p.dtype).kind == "f":
            lines.append(f"        if (nan_{p.result}) a_{p.result} = NAN;")
        lines.append(f"        const {ctype(p.dtype)} {p.result} = ({ctype(p.dtype)})a_{p.result};")
    lines += _block(k.epilogue, ivars, d, "        ")
    if k.body.instrs or k.body.stores:
        lines.append("        for (int64_t r = 0; r < R; ++r) {")
        lines += _decompose("r", red, names, "            ", "int64_t")
        lines += _block(k.body, ivars, d, "            ")
        lines.append("        }")
    lines.append("    }")
    return lines


def _mm_sizes(k: KernelIR, names: list) -> tuple:
    batch, m_ax, n_ax, k_ax = k.mm_axes
    M = names[m_ax] if m_ax is not None else "1"
    N = names[n_ax] if n_ax is not None else "1"
    return list(batch), m_ax, n_ax, k_ax, M, N, names[k_ax]


def _c_matmul(k: KernelIR, d: Dialect) -> list:
    lines, names = _dims_lines(k, "    ", "int64_t")
    batch, m_ax, n_ax, k_ax, M, N, K = _mm_sizes(k, names)
    iv = [f"i{j}" for j in range(len(k.dims))]
    acc_t = _acc_type("sum", k.acc_dtype, d) if k.acc_dtype != "float32" else "float"
    T = ctype(k.acc_dtype)
    lines.append(f"    const int64_t B = {_product([names[a] for a in batch])};")
    lines.append(f"    #pragma omp parallel for collapse(2) if (B * {M} * {N} * {K} > "
                 f"{d.par_threshold}) schedule(static)")
    lines.append("    for (int64_t bb = 0; bb < B; ++bb) {")
    lines.append(f"    for (int64_t im = 0; im < {M}; ++im) {{")
    ind = "        "
    lines += _decompose("bb", batch, names, ind, "int64_t")
    if m_ax is not None:
        lines.append(f"{ind}const int64_t i{m_ax} = im;")
    lines.append(f"{ind}for (int64_t j0 = 0; j0 < {N}; j0 += 64) {{")
    lines.append(f"{ind}    const int64_t jn = {N} - j0 < 64 ? {N} - j0 : 64;")
    lines.append(f"{ind}    {acc_t} accs[64];")
    lines.append(f"{ind}    for (int64_t jj = 0; jj < 64; ++jj) accs[jj] = 0;")
    lines.append(f"{ind}    for (int64_t i{k_ax} = 0; i{k_ax} < {K}; ++i{k_ax}) {{")
    lines += _block(k.a, iv, d, ind + "        ")
    lines.append(f"{ind}        const {T} a_ik = {k.a_value};")
    lines.append(f"{ind}        for (int64_t jj = 0; jj < jn; ++jj) {{")
    if n_ax is not None:
        lines.append(f"{ind}            const int64_t i{n_ax} = j0 + jj;")
    lines += _block(k.b, iv, d, ind + "            ")
    lines.append(f"{ind}            accs[jj] += a_ik * {k.b_value};")
    lines.append(f"{ind}        }}")
    lines.append(f"{ind}    }}")
    lines.append(f"{ind}    for (int64_t jj = 0; jj < jn; ++jj) {{")
    if n_ax is not None:
        lines.append(f"{ind}        const int64_t i{n_ax} = j0 + jj;")
    lines.append(f"{ind}        const {T} acc = ({T})accs[jj];")
    lines += _block(k.body, iv, d, ind + "        ")
    lines.append(f"{ind}    }}")
    lines.append(f"{ind}}}")
    lines.append("    }")
    lines.append("    }")
    return lines


# ---- CUDA kernels --------------------------------------------------------------------------

def _index_type(k: KernelIR, d: Dialect, extra: int = 1) -> str:
    total = 1
    for m in k.dims:
        if m.static() is None:
            return d.index_t
        total *= m.static()
    return "int" if total * extra < 2**31 - 1 else d.index_t


def _cuda_elementwise(k: KernelIR, d: Dialect) -> list:
    n = len(k.dims)
    it = _index_type(k, d)
    lines, names = _dims_lines(k, "    ", it)
    ivars = [f"i{j}" for j in range(n)]
    lines.append(f"    const {it} total = {_product(names)};")
    lines.append(f"    for ({it} flat = ({it})blockIdx.x * blockDim.x + threadIdx.x; flat < total; "
                 f"flat += ({it})gridDim.x * blockDim.x) {{")
    lines += _decompose("flat", list(range(n)), names, "        ", it)
    lines += _block(k.body, ivars, d, "        ")
    lines.append("    }")
    return lines


def is_column_reduction(k: KernelIR) -> bool:
    """The innermost axis is kept: neighbouring outputs read neighbouring addresses."""
    n = len(k.dims)
    return bool(n and k.reduce_axes and (n - 1) not in k.reduce_axes)


def _r_loop(loop: str, body: list, red, names, it) -> list:
    """``for (loop) { <r decomposed into the reduced axes> body }`` at a row's indent."""
    return ([f"        for ({loop}) {{"] + _decompose("r", red, names, "            ", it)
            + body + ["        }"])


def _cuda_accumulate(p, acc_t: str, loop: str, red, names, ivars, d: Dialect, it) -> list:
    """A reduction phase's accumulator and its loop over the reduced index ``r``."""
    step = (f"            a_{p.result} += {p.value};" if p.op == "sum" else
            f"            a_{p.result} = gc_max(a_{p.result}, ({acc_t}){p.value});")
    return ([f"        {acc_t} a_{p.result} = {_identity(p.op, p.dtype)};"]
            + _r_loop(loop, _block(p.block, ivars, d, "            ") + [step], red, names, it))


def _cuda_reduce_columns(k: KernelIR, d: Dialect) -> list:
    """One thread per output (column): each walks its rows; threads of a warp read
    consecutive addresses at every step (coalesced), no shared memory needed."""
    n = len(k.dims)
    it = _index_type(k, d)
    lines, names = _dims_lines(k, "    ", it)
    outer = [a for a in range(n) if a not in k.reduce_axes]
    red = list(k.reduce_axes)
    ivars = [f"i{j}" for j in range(n)]
    lines.append(f"    const {it} O = {_product([names[a] for a in outer])};")
    lines.append(f"    const {it} R = {_product([names[a] for a in red])};")
    lines.append(f"    for ({it} o = ({it})blockIdx.x * blockDim.x + threadIdx.x; o < O; "
                 f"o += ({it})gridDim.x * blockDim.x) {{")
    lines += _decompose("o", outer, names, "        ", it)
    for p in k.phases:
        acc_t = _acc_type(p.op, p.dtype, d)
        lines += _cuda_accumulate(p, acc_t, f"{it} r = 0; r < R; ++r", red, names, ivars, d, it)
        lines.append(f"        const {ctype(p.dtype)} {p.result} = ({ctype(p.dtype)})a_{p.result};")
    lines += _block(k.epilogue, ivars, d, "        ")
    if k.body.instrs or k.body.stores:
        lines += _r_loop(f"{it} r = 0; r < R; ++r", _block(k.body, ivars, d, "            "),
                         red, names, it)
    lines.append("    }")
    return lines


def _cuda_reduce(k: KernelIR, d: Dialect) -> list:
    if is_column_reduction(k):
        return _cuda_reduce_columns(k, d)
    n = len(k.dims)
    it = _index_type(k, d)
    lines, names = _dims_lines(k, "    ", it)
    outer = [a for a in range(n) if a not in k.reduce_axes]
    red = list(k.reduce_axes)
    ivars = [f"i{j}" for j in range(n)]
    scratch = {}
    for p in k.phases:
        acc_t = _acc_type(p.op, p.dtype, d)
        if acc_t not in scratch:
            scratch[acc_t] = f"scratch_{len(scratch)}"
            lines.insert(0, f"    __shared__ {acc_t} {scratch[acc_t]}[32];")
    lines.append(f"    const {it} O = {_product([names[a] for a in outer])};")
    lines.append(f"    const {it} R = {_product([names[a] for a in red])};")
    lines.append(f"    for ({it} o = blockIdx.x; o < O; o += gridDim.x) {{")
    lines += _decompose("o", outer, names, "        ", it)
    for p in k.phases:
        acc_t = _acc_type(p.op, p.dtype, d)
        lines += _cuda_accumulate(p, acc_t, f"{it} r = threadIdx.x; r < R; r += blockDim.x",
                                  red, names, ivars, d, it)
        fn = "gc_block_allreduce_sum" if p.op == "sum" else "gc_block_allreduce_max"
        lines.append(f"        const {ctype(p.dtype)} {p.result} = ({ctype(p.dtype)}){fn}"
                     f"(a_{p.result}, {scratch[acc_t]});")
    lines += _block(k.epilogue, ivars, d, "        ", guard="threadIdx.x == 0")
    if k.body.instrs or k.body.stores:
        lines += _r_loop(f"{it} r = threadIdx.x; r < R; r += blockDim.x",
                         _block(k.body, ivars, d, "            "), red, names, it)
    lines.append("    }")
    return lines


TILE, TK, THREADS_2D = 64, 16, 16   # CUDA GEMM: 64x64 tile, k-step 16, 16x16 threads x 4x4


def _tile_load(dst, pos, decompose, origin, ax, size, operand, value, k_ax, K, T, it, iv,
               d) -> list:
    """One GEMM operand's TK x TILE tile into shared ``dst`` (zeros past the edges)."""
    lines = [f"        for (int e = threadIdx.x; e < {TILE * TK}; e += blockDim.x) {{",
             f"            {decompose}",
             f"            const {it} i{k_ax} = kt + kk;"]
    if ax is not None:
        lines.append(f"            const {it} i{ax} = {origin} + {pos};")
        cond = f"i{ax} < {size} && i{k_ax} < {K}"
    else:
        cond = f"{origin} + {pos} < 1 && i{k_ax} < {K}"
    lines += [f"            {T} val = 0;", f"            if ({cond}) {{"]
    lines += _block(operand, iv, d, "                ")
    lines += [f"                val = {value};", "            }",
              f"            {dst}[kk][{pos}] = val;", "        }"]
    return lines


def _cuda_matmul(k: KernelIR, d: Dialect) -> list:
    it = _index_type(k, d)
    lines, names = _dims_lines(k, "    ", it)
    batch, m_ax, n_ax, k_ax, M, N, K = _mm_sizes(k, names)
    iv = [f"i{j}" for j in range(len(k.dims))]
    T = ctype(k.acc_dtype)
    head = [f"    __shared__ {T} As[{TK}][{TILE}];", f"    __shared__ {T} Bs[{TK}][{TILE} + 1];"]
    lines = head + lines
    lines += [
        f"    const {it} bz = blockIdx.z;",
        f"    if (bz >= {_product([names[a] for a in batch])}) return;   /* empty batch */",
        *_decompose("bz", batch, names, "    ", it),
        "    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;",
        f"    const {it} row0 = ({it})blockIdx.y * {TILE}, col0 = ({it})blockIdx.x * {TILE};",
        f"    {T} c[4][4];",
        "    for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] = 0;",
        f"    for ({it} kt = 0; kt < {K}; kt += {TK}) {{",
    ]
    # both tiles are stored k-major: As[kk][row], Bs[kk][col]
    lines += _tile_load("As", "ii", f"const int ii = e / {TK}, kk = e % {TK};", "row0", m_ax, M,
                        k.a, k.a_value, k_ax, K, T, it, iv, d)
    lines += _tile_load("Bs", "jj", f"const int kk = e / {TILE}, jj = e % {TILE};", "col0", n_ax,
                        N, k.b, k.b_value, k_ax, K, T, it, iv, d)
    lines += [
        "        __syncthreads();",
        f"        for (int kk = 0; kk < {TK}; ++kk) {{",
        f"            {T} a[4], b[4];",
        "            for (int m = 0; m < 4; ++m) a[m] = As[kk][ty + 16 * m];",
        "            for (int q = 0; q < 4; ++q) b[q] = Bs[kk][tx + 16 * q];",
        "            for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] += a[m] * b[q];",
        "        }",
        "        __syncthreads();",
        "    }",
        "    for (int m = 0; m < 4; ++m) {",
        "        for (int q = 0; q < 4; ++q) {",
        f"            const {it} row = row0 + ty + 16 * m, col = col0 + tx + 16 * q;",
        f"            if (row >= {M} || col >= {N}) continue;",
    ]
    if m_ax is not None:
        lines.append(f"            const {it} i{m_ax} = row;")
    if n_ax is not None:
        lines.append(f"            const {it} i{n_ax} = col;")
    lines.append(f"            const {T} acc = c[m][q];")
    lines += _block(k.body, iv, d, "            ")
    lines += ["        }", "    }"]
    return lines


def render_kernel(k: KernelIR, bufs: dict, d: Dialect) -> str:
    decl, _ = _signature(k, bufs, d)
    sep = ",\n" + " " * (len(d.kernel_qual) + len(k.name) + 2)
    lines = _header_comment(k)
    lines.append(f"{d.kernel_qual} {k.name}({sep.join(decl)}) {{")
    body = {"elementwise": (_c_elementwise, _cuda_elementwise),
            "reduce": (_c_reduce, _cuda_reduce),
            "matmul": (_c_matmul, _cuda_matmul)}[k.kind][1 if d.gpu else 0](k, d)
    lines += body
    lines.append("}")
    return "\n".join(lines)


# ---- memory plan + host side -----------------------------------------------------------------

def memory_plan(pir: ProgramIR):
    """Liveness plan of the temporaries (results and leaves are external)."""
    steps = []
    for k in pir.kernels:
        defines = [Value(b, pir.buffers[b].dtype, _plan_dims(pir.buffers[b]))
                   for b in k.buffers_written() if pir.buffers[b].kind == "temp"]
        reads = [b for b in k.buffers_read() if pir.buffers[b].kind == "temp"]
        steps.append(Step(defines, reads))
    return plan_memory(steps)


def _plan_dims(buf: BufferRef) -> tuple:
    out = []
    for m in buf.dims:
        out.append(m.coef)
        out.extend(m.syms)
    return tuple(out)


def _bytes_expr(buf_dtype: str, dims: tuple) -> str:
    parts = [str(np.dtype(buf_dtype).itemsize)] + [str(x) for x in dims]
    return "(" + "*".join(parts) + ")"


def const_arrays(pir: ProgramIR, d: Dialect) -> list:
    lines = []
    for c in pir.consts:
        flat = np.asarray(c.value).reshape(-1)
        from .kernel_ir import _literal
        vals = ", ".join(_literal(v, c.dtype) for v in flat.tolist())
        q = "static const" if not d.gpu else "static const"
        lines.append(f"{q} {c.ctype} {c.name}_host[{max(flat.size, 1)}] = {{{vals}}};")
    return lines


def host_prologue(pir: ProgramIR, d: Dialect, ptr: str = "inputs") -> list:
    """Unpack the size array and pointer arrays into named variables."""
    lines = []
    for k, s in enumerate(pir.sym_order):
        lines.append(f"    const int64_t {s} = sizes[{k}];")
    for b in pir.inputs:
        lines.append(f"    const {b.ctype}* {b.name} = (const {b.ctype}*)inputs[{b.index}];")
    return lines


def render(pir: ProgramIR, d: Dialect) -> str:
    """The whole translation unit: kernels + the host entry points."""
    if d.gpu:
        from .cuda_backend import render_host
    else:
        from .c_backend import render_host
    parts = [f"/* graphc: {pir.name} ({d.name}), {len(pir.kernels)} fused kernels. "
             "Generated code: edit the graph, not this file. */", d.prelude]
    parts += const_arrays(pir, d)
    for k in pir.kernels:
        parts.append(render_kernel(k, pir.buffers, d))
        if not d.gpu and blas_plan(k) is not None:
            parts.append(c_epilogue_kernel(k, pir.buffers, d)[0])
    parts.append(render_host(pir, d))
    return "\n".join(parts) + "\n"


# ---- C: matmul through BLAS (a function pointer set at load time) + the epilogue ----------

def blas_plan(k: KernelIR) -> dict | None:
    """How a 2-D matmul kernel maps onto one ``cblas_?gemm`` call (None: it does not)."""
    if k.kind != "matmul" or k.acc_dtype not in ("float32", "float64"):
        return None
    batch, m_ax, n_ax, k_ax = k.mm_axes
    if batch or len(k.a.instrs) != 1 or len(k.b.instrs) != 1:
        return None
    la, lb = k.a.instrs[0], k.b.instrs[0]
    if la.op != "load" or lb.op != "load" or la.dtype != k.acc_dtype or lb.dtype != k.acc_dtype:
        return None
    one = Mono(1)

    def layout(load, row_ax, col_ax):
        # (transposed?, leading dimension) for a row-major operand view, else None
        rs = load.strides[row_ax] if row_ax is not None else Mono(0)
        cs = load.strides[col_ax] if col_ax is not None else Mono(0)
        rows = k.dims[row_ax] if row_ax is not None else one
        cols = k.dims[col_ax] if col_ax is not None else one
        if cs == one and (rs == cols or rs.is_zero and rows == one):
            return False, cols
        if rs == one and (cs == rows or cs.is_zero and cols == one):
            return True, rows
        if cs == one and rows == one:
            return False, cols
        return None

    a = layout(la, m_ax, k_ax)
    b = layout(lb, k_ax, n_ax)
    if a is None or b is None:
        return None
    M = k.dims[m_ax] if m_ax is not None else one
    N = k.dims[n_ax] if n_ax is not None else one
    return {"a": la.buf, "b": lb.buf, "ta": a[0], "lda": a[1], "tb": b[0], "ldb": b[1],
            "M": M, "N": N, "K": k.dims[k_ax], "size": M * N}


def c_epilogue_kernel(k: KernelIR, bufs: dict, d: Dialect) -> tuple[str, list]:
    """``<name>_epilogue``: the matmul's fused epilogue reading ``acc`` from ``gemm_out``."""
    batch, m_ax, n_ax, k_ax = k.mm_axes
    T = ctype(k.acc_dtype)
    reads = [b for b in dict.fromkeys(i.buf for i in k.body.instrs if i.op == "load")]
    writes = list(dict.fromkeys(s.buf for s in k.body.stores))
    sizes = set()
    for m in k.dims:
        sizes.update(m.syms)
    for i in k.body.instrs:
        for s in i.strides:
            sizes.update(s.syms)
    sizes = sorted(sizes)
    decl = [f"const int64_t {s}" for s in sizes]
    decl += [f"const {bufs[b].ctype}* {d.restrict} {b}" for b in reads if b not in writes]
    decl.append(f"const {T}* {d.restrict} gemm_out")
    decl += [f"{bufs[b].ctype}* {d.restrict} {b}" for b in writes]
    args = sizes + [b for b in reads if b not in writes] + ["gemm_out"] + writes
    lines, names = _dims_lines(k, "    ", "int64_t")
    M = names[m_ax] if m_ax is not None else "1"
    N = names[n_ax] if n_ax is not None else "1"
    iv = [f"i{j}" for j in range(len(k.dims))]
    out = [f"/* {k.name}_epilogue: the epilogue of {k.name} over a BLAS product */",
           f"static void {k.name}_epilogue({', '.join(decl)}) {{"] + lines
    out.append(f"    #pragma omp parallel for if ({M} * {N} > {d.par_threshold}) schedule(static)")
    out.append(f"    for (int64_t im = 0; im < {M}; ++im) {{")
    if m_ax is not None:
        out.append(f"        const int64_t i{m_ax} = im;")
    out.append(f"        for (int64_t jn = 0; jn < {N}; ++jn) {{")
    if n_ax is not None:
        out.append(f"            const int64_t i{n_ax} = jn;")
    out.append(f"            const {T} acc = gemm_out[im * {N} + jn];")
    out += _block(k.body, iv, d, "            ")
    out += ["        }", "    }", "}"]
    return "\n".join(out), args
