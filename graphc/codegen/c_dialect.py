"""The C dialect (CPU): nested loops with OpenMP, row and column reductions, a blocked
GEMM, a vectorizable float32 exp and glibc's SIMD libm (libmvec) under GC_VECTOR_MATH.

>>> import graphc as gc
>>> from graphc.codegen.base import Program
>>> from graphc.codegen.kernel_ir import lower
>>> x = gc.placeholder("x", (8,))
>>> k = lower(Program("f", (x,), (), (gc.tanh(x),))).kernels[0]
>>> "tanhf(v1)" in C.render_kernel(k, lower(Program("f", (x,), (), (gc.tanh(x),))).buffers)
True
"""
from __future__ import annotations

import numpy as np

from . import c_blas, c_lapack, linalg_kernels
from .c_family import (CFamilyRenderer, ctype, decompose, dims_lines, is_column_reduction,
                       mm_sizes, product, reduce_identity)
from .kernel_types import KernelIR

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
VECTOR_MATH = ("exp", "log", "sin", "cos", "tan", "tanh", "log1p", "expm1", "pow", "erf",
               "erfc")


def vector_math_decls() -> str:
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


COLUMN_BLOCK = 512   # column reductions: columns accumulated together (fits L1/L2)
GEMM_COLUMNS = 64    # GEMM: output columns accumulated together per row


class CDialect(CFamilyRenderer):
    """C for the CPU: one loop nest per kernel, OpenMP when the work pays for it; with
    ``blas``, each matmul BLAS can run also gets its epilogue kernel (``c_blas``)."""

    name = "c"
    prelude = ("#include <math.h>\n#include <stdbool.h>\n#include <stdint.h>\n#include <string.h>\n"
               "#define GC_INFINITY INFINITY\n"
               + GC_EXPF + vector_math_decls())
    float32_math = {"exp": "gc_expf", "cos": "gc_cosf"}
    float64_math = {"cos": "gc_cos"}
    par_threshold = 1 << 20   # OpenMP only when the work pays for it (and does not fight
                              # BLAS threads on small kernels)
    own_names = frozenset({"O", "R", "B", "o", "r", "ob", "oe", "bb", "im", "jn", "j0", "jj",
                           "accs", "a_ik", "gemm_out"})
    own_families = (r"nan_r\d+", r"acc_r\d+")

    def __init__(self, blas: bool = True):
        self.blas = blas

    def omp(self, k: KernelIR, line: str) -> list:
        """``line`` (a ``#pragma omp parallel``), unless the kernel's size is known now and
        under the threshold: then its ``if`` clause is false on every call, yet GCC would
        still outline the loop for OpenMP, which more than doubles its compile time."""
        static = 1
        for m in k.dims:
            v = m.static()
            if v is None:
                return [line]
            static *= v
        return [] if static <= self.par_threshold else [line]

    linalg_helpers = c_lapack.HELPERS

    def lapack_code(self, spec: dict):
        return c_lapack.lapack_code(spec)

    def linalg_fail(self, site: int) -> str:
        return f"gc_linalg_fail({site});"

    def linalg(self, k: KernelIR) -> list:
        """One linear-algebra op per matrix of the batch: OpenMP over the batch for small
        matrices (each thread its own scratch), serial for large ones (LAPACK threads)."""
        spec = k.linalg
        T = ctype(spec["dtype"])
        lines, names = dims_lines(k, "    ", "int64_t")
        ws, npiv = linalg_kernels.scratch(spec)
        small = max(spec["n"], spec["m"]) < c_lapack.LAPACK_MIN_N
        lines.append(f"    const int64_t la_B = {product(names)};")
        if small:
            lines.append(f"    #pragma omp parallel if (la_B > 1 && la_B * "
                         f"{linalg_kernels.flops(spec)} > {self.par_threshold})")
        lines += ["    {",
                  f"    {T}* la_w = ({T}*)malloc(sizeof({T}) * {max(ws, 1)}); (void)la_w;",
                  f"    int64_t* la_piv = (int64_t*)malloc(sizeof(int64_t) * {max(npiv, 1)}); "
                  "(void)la_piv;"]
        if small:
            lines.append("    #pragma omp for schedule(static)")
        lines.append("    for (int64_t la_bb = 0; la_bb < la_B; ++la_bb) {")
        lines += self.linalg_matrix(k, "        ")
        lines += ["    }", "    free(la_w);", "    free(la_piv);", "    }"]
        return lines

    def kernel_companions(self, k: KernelIR, bufs: dict) -> list:
        if not self.blas or c_blas.blas_plan(k) is None:
            return []
        return [c_blas.epilogue_kernel(k, bufs, self)[0]]

    def scatter(self, k: KernelIR) -> list:
        """A scatter_add: zeros, then every update added at its index in one serial loop
        nest (duplicate indices sum in index order: deterministic)."""
        return self.zero_fill(k) + self.elementwise(k, parallel=False)

    def elementwise(self, k: KernelIR, parallel: bool = True) -> list:
        n = len(k.dims)
        lines, names = dims_lines(k, "    ", "int64_t")
        ivars = [f"i{j}" for j in range(n)]
        if n == 0:
            return lines + ["    {"] + self.block(k.body, ivars, "        ") + ["    }"]
        if parallel:
            lines += self.omp(k, f"    #pragma omp parallel for if ({product(names)} > "
                                 f"{self.par_threshold}) schedule(static)")
        indent = "    "
        for j in range(n):
            lines.append(f"{indent}for (int64_t i{j} = 0; i{j} < N{j}; ++i{j}) {{")
            indent += "    "
        lines += self.block(k.body, ivars, indent)
        for j in reversed(range(n)):
            indent = indent[:-4]
            lines.append(indent + "}")
        return lines

    def reduce_columns(self, k: KernelIR) -> list:
        """A reduction whose innermost axis is kept (a column sum like ``sum(x, 0)``): rows
        are streamed in memory order into a block of per-column accumulators, so every
        load is contiguous and the inner loop vectorizes (row-at-a-time would stride)."""
        lines, names, outer, red, ivars = self.reduction_frame(k, "int64_t")
        B = COLUMN_BLOCK
        lines += self.omp(k, f"    #pragma omp parallel for if (O * R > {self.par_threshold} && "
                             f"O > {B}) schedule(static)")
        lines.append(f"    for (int64_t ob = 0; ob < O; ob += {B}) {{")
        lines.append(f"        const int64_t oe = ob + {B} < O ? ob + {B} : O;")
        for p in k.phases:
            lines.append(f"        {self.acc_type(p.op, p.dtype)} acc_{p.result}[{B}];")

        def prior(upto):   # earlier row scalars of this column, as the names the IR uses
            return [f"            const {ctype(q.dtype)} {q.result} = ({ctype(q.dtype)})"
                    f"acc_{q.result}[o - ob]; (void){q.result};" for q in k.phases[:upto]]
        for idx, p in enumerate(k.phases):
            acc = f"acc_{p.result}[o - ob]"
            value = self.operand(p.value)
            lines.append(f"        for (int64_t o = ob; o < oe; ++o) {acc} = "
                         f"{reduce_identity(p.op, p.dtype)};")
            lines.append("        for (int64_t r = 0; r < R; ++r) {")
            lines += decompose("r", red, names, "            ", "int64_t")
            lines.append("            #pragma omp simd")
            lines.append("            for (int64_t o = ob; o < oe; ++o) {")
            lines += [("    " + x) for x in decompose("o", outer, names, "            ", "int64_t")]
            lines += ["    " + x for x in prior(idx)]
            lines += self.block(p.block, ivars, "                ")
            if p.op == "sum":
                lines.append(f"                {acc} += {value};")
            else:
                lines.append(f"                {acc} = ({value} > {acc} || {value} != {value})"
                             f" ? {value} : {acc};")
            lines += ["            }", "        }"]
        lines.append("        for (int64_t o = ob; o < oe; ++o) {")
        lines += decompose("o", outer, names, "            ", "int64_t")
        lines += prior(len(k.phases))
        lines += self.block(k.epilogue, ivars, "            ")
        lines.append("        }")
        if k.body.instrs or k.body.stores:
            lines.append("        for (int64_t r = 0; r < R; ++r) {")
            lines += decompose("r", red, names, "            ", "int64_t")
            lines.append("            for (int64_t o = ob; o < oe; ++o) {")
            lines += ["    " + x for x in decompose("o", outer, names, "            ", "int64_t")]
            lines += ["    " + x for x in prior(len(k.phases))]
            lines += self.block(k.body, ivars, "                ")
            lines += ["            }", "        }"]
        lines.append("    }")
        return lines

    def reduce(self, k: KernelIR) -> list:
        if is_column_reduction(k):
            return self.reduce_columns(k)
        lines, names, outer, red, ivars = self.reduction_frame(k, "int64_t")
        lines += self.omp(k, f"    #pragma omp parallel for if (O * R > {self.par_threshold} && "
                             f"O > 1) schedule(static)")
        lines.append("    for (int64_t o = 0; o < O; ++o) {")
        lines += decompose("o", outer, names, "        ", "int64_t")
        for p in k.phases:
            acc, value = f"a_{p.result}", self.operand(p.value)
            is_float = np.dtype(p.dtype).kind == "f"
            lines.append(f"        {self.acc_type(p.op, p.dtype)} {acc} = "
                         f"{reduce_identity(p.op, p.dtype)};")
            if p.op == "sum":
                lines.append(f"        #pragma omp simd reduction(+:{acc})")
            elif is_float:
                lines.append(f"        int nan_{p.result} = 0;")
                lines.append(f"        #pragma omp simd reduction(max:{acc}) "
                             f"reduction(|:nan_{p.result})")
            lines.append("        for (int64_t r = 0; r < R; ++r) {")
            lines += decompose("r", red, names, "            ", "int64_t")
            lines += self.block(p.block, ivars, "            ")
            if p.op == "sum":
                lines.append(f"            {acc} += {value};")
            else:
                lines.append(f"            {acc} = {value} > {acc} ? {value} : {acc};")
                if is_float:
                    lines.append(f"            nan_{p.result} |= {value} != {value};")
            lines.append("        }")
            if p.op == "max" and is_float:
                lines.append(f"        if (nan_{p.result}) {acc} = NAN;")
            lines.append(f"        const {ctype(p.dtype)} {p.result} = ({ctype(p.dtype)}){acc};")
        lines += self.block(k.epilogue, ivars, "        ")
        if k.body.instrs or k.body.stores:
            lines.append("        for (int64_t r = 0; r < R; ++r) {")
            lines += decompose("r", red, names, "            ", "int64_t")
            lines += self.block(k.body, ivars, "            ")
            lines.append("        }")
        lines.append("    }")
        return lines

    def matmul(self, k: KernelIR) -> list:
        """Per output row, GEMM_COLUMNS columns at a time: the row of A is read once per
        column block and the accumulators stay in registers/L1."""
        lines, names = dims_lines(k, "    ", "int64_t")
        batch, m_ax, n_ax, k_ax, M, N, K = mm_sizes(k, names)
        iv = [f"i{j}" for j in range(len(k.dims))]
        acc_t = self.acc_type("sum", k.acc_dtype) if k.acc_dtype != "float32" else "float"
        T, W = ctype(k.acc_dtype), GEMM_COLUMNS
        ind = "        "
        lines.append(f"    const int64_t B = {product([names[a] for a in batch])};")
        lines.append(f"    #pragma omp parallel for collapse(2) if (B * {M} * {N} * {K} > "
                     f"{self.par_threshold}) schedule(static)")
        lines.append("    for (int64_t bb = 0; bb < B; ++bb) {")
        lines.append(f"    for (int64_t im = 0; im < {M}; ++im) {{")
        lines += decompose("bb", batch, names, ind, "int64_t")
        if m_ax is not None:
            lines.append(f"{ind}const int64_t i{m_ax} = im;")
        lines.append(f"{ind}for (int64_t j0 = 0; j0 < {N}; j0 += {W}) {{")
        lines.append(f"{ind}    const int64_t jn = {N} - j0 < {W} ? {N} - j0 : {W};")
        lines.append(f"{ind}    {acc_t} accs[{W}];")
        lines.append(f"{ind}    for (int64_t jj = 0; jj < {W}; ++jj) accs[jj] = 0;")
        lines.append(f"{ind}    for (int64_t i{k_ax} = 0; i{k_ax} < {K}; ++i{k_ax}) {{")
        lines += self.block(k.a, iv, ind + "        ")
        lines.append(f"{ind}        const {T} a_ik = {self.operand(k.a_value)};")
        lines.append(f"{ind}        for (int64_t jj = 0; jj < jn; ++jj) {{")
        if n_ax is not None:
            lines.append(f"{ind}            const int64_t i{n_ax} = j0 + jj;")
        lines += self.block(k.b, iv, ind + "            ")
        lines.append(f"{ind}            accs[jj] += a_ik * {self.operand(k.b_value)};")
        lines.append(f"{ind}        }}")
        lines.append(f"{ind}    }}")
        lines.append(f"{ind}    for (int64_t jj = 0; jj < jn; ++jj) {{")
        if n_ax is not None:
            lines.append(f"{ind}        const int64_t i{n_ax} = j0 + jj;")
        lines.append(f"{ind}        const {T} acc = ({T})accs[jj];")
        lines += self.block(k.body, iv, ind + "        ")
        lines.append(f"{ind}    }}")
        lines.append(f"{ind}}}")
        lines.append("    }")
        lines.append("    }")
        return lines


C = CDialect()
C_WITHOUT_BLAS = CDialect(blas=False)   # compile(..., blas=False): no BLAS code at all
