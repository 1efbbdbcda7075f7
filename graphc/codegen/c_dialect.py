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

import re

import numpy as np

from . import c_blas, c_lapack, gate_split, linalg_kernels, row_cache
from .c_family import (CFamilyRenderer, ctype, decompose, dims_lines, is_column_reduction,
                       mm_sizes, offset, product, reduce_identity)
from .kernel_types import ONE, KernelIR

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

# OpenMP threads of a parallel kernel: the CPUs the process may run on now (its affinity
# mask, which taskset, cgroups or os.sched_setaffinity may have narrowed since the OpenMP
# runtime started), at most OpenMP's own limit (OMP_NUM_THREADS). Asked only when a kernel
# is large enough to go parallel (a system call: about a microsecond).
GC_THREADS = """\
#ifdef _OPENMP
#include <omp.h>
#include <stddef.h>
#ifdef __linux__
/* glibc's sched_getaffinity under its own name, with a plain mask: no _GNU_SOURCE needed
 * (an exported library's header may include libc headers before this prelude) */
extern int gc_sched_getaffinity(int, size_t, unsigned long*) __asm__("sched_getaffinity");
#endif
static inline int gc_threads(void) {
    int n = omp_get_max_threads();
#ifdef __linux__
    unsigned long mask[16] = {0};   /* 1024 CPUs, glibc's cpu_set_t */
    if (gc_sched_getaffinity(0, sizeof mask, mask) == 0) {
        int cpus = 0;
        for (int w = 0; w < 16; ++w) cpus += __builtin_popcountl(mask[w]);
        if (cpus > 0 && cpus < n) n = cpus;
    }
#endif
    return n;
}
#endif
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


SORT_RUN = 16        # argsort: runs of this many sorted by insertion, then merged
SELECT_MAX = 64      # argsort keeping at most this many (top_k): selection, not a sort


def distinct_stores(k: KernelIR, axis: int | None = None, blocks=None) -> bool:
    """Every store of ``blocks`` (default: all of ``k``'s) writes a different element on
    each step of ``axis`` (default: the innermost; no scatter, no broadcast store): the
    loop over it may run as SIMD lanes."""
    if not k.dims:
        return False
    axis = len(k.dims) - 1 if axis is None else axis
    stores = [s for blk in (k.blocks() if blocks is None else blocks) for s in blk.stores]
    return all(not s.accumulate and not s.gated and not s.strides[axis].is_zero
               for s in stores)


def split_parallel_loop(body: list):
    """(frame lines, [pragma, for line], loop variable, loop body lines) of a kernel body
    that is one ``#pragma omp parallel for`` loop (not ``simd``, not ``collapse``), else
    None."""
    at = [j for j, line in enumerate(body) if line.startswith("    #pragma omp parallel for")]
    if len(at) != 1 or j_bad(body[at[0]]) or at[0] + 1 >= len(body) or body[-1] != "    }":
        return None
    j = at[0]
    loop = re.match(r"    for \(int64_t (\w+) = ", body[j + 1])
    if loop is None:
        return None
    return body[:j], body[j:j + 2], loop.group(1), body[j + 2:-1]


PADDING = 64   # bytes every workspace buffer is rounded up to (c_host's layout)


def padded_block(k: KernelIR, bufs: dict) -> int | None:
    """Elements per block when ``k``'s loop may run in whole blocks, else None: a 1-D
    elementwise kernel whose every store and every load (broadcast loads aside) is a
    workspace temp of exactly the loop's length, accessed contiguously. Its last block
    then runs into the temps' padding (lanes computed and never read), so GCC emits one
    vector loop instead of a vector loop, a vector epilogue and scalar copies of the body
    (about half a large program's compile time: chains of 128 fused ops); no lane can
    fault (no data-dependent index). The block is a whole number of elements of the
    widest type that fits the padding."""
    if k.kind != "elementwise" or len(k.dims) != 1 or k.epilogue.instrs or k.epilogue.stores:
        return None
    n, widest = k.dims[0], 1

    def contiguous_temp(name: str, stride, offset=()) -> bool:
        b = bufs[name]
        return (stride == ONE and all(o.is_zero for o in offset) and b.kind == "temp"
                and b.size() == n)
    for blk in k.blocks():
        for ins in blk.instrs:
            if ins.op == "data_index" or (ins.op == "load" and ins.gated):
                return None
            if ins.op != "load" or ins.strides[0].is_zero:
                continue
            if not contiguous_temp(ins.buf, ins.strides[0], ins.offset):
                return None
            widest = max(widest, np.dtype(bufs[ins.buf].dtype).itemsize)
        for st in blk.stores:
            if st.gated or st.accumulate or not contiguous_temp(st.buf, st.strides[0]):
                return None
            widest = max(widest, np.dtype(bufs[st.buf].dtype).itemsize)
    return PADDING // widest


def j_bad(pragma: str) -> bool:
    return " simd" in pragma or "collapse" in pragma


def reduced_loops(red: list, names: list, indent: str, pragmas: list) -> tuple:
    """(opening lines, the body's indent, closing lines) of the loops over the reduced
    axes ``red``: the last axis innermost, under ``pragmas``, the others flattened into an
    outer loop. A loop over all of ``R`` at once would split its flat index with a
    division per element, which neither runs fast nor vectorizes."""
    if len(red) < 2:
        opened = [indent + p for p in pragmas] + [f"{indent}for (int64_t r = 0; r < R; ++r) {{"]
        body = indent + "    "
        return opened + decompose("r", red, names, body, "int64_t"), body, [f"{indent}}}"]
    *outer, last = red
    opened = [f"{indent}for (int64_t r = 0; r < {product([names[a] for a in outer])}; ++r) {{"]
    opened += decompose("r", outer, names, indent + "    ", "int64_t")
    opened += [indent + "    " + p for p in pragmas]
    opened.append(f"{indent}    for (int64_t i{last} = 0; i{last} < {names[last]}; ++i{last}) {{")
    return opened, indent + "        ", [f"{indent}    }}", f"{indent}}}"]


def simd_line(indent: str, ok: bool = True) -> list:
    """``#pragma omp simd`` before an innermost loop whose steps are independent."""
    return [f"{indent}#pragma omp simd"] if ok else []


COLUMN_BLOCK = 512   # column reductions: columns accumulated together (fits L1/L2)
GEMM_COLUMNS = 64    # GEMM: output columns accumulated together per row


class CDialect(CFamilyRenderer):
    """C for the CPU: one loop nest per kernel, OpenMP when the work pays for it; with
    ``blas``, each matmul BLAS can run also gets its epilogue kernel (``c_blas``)."""

    name = "c"
    prelude = ("#include <math.h>\n#include <stdbool.h>\n#include <stdint.h>\n#include <string.h>\n"
               "#define GC_INFINITY INFINITY\n"
               + GC_THREADS + GC_EXPF + vector_math_decls())
    sort_prelude = "#include <stdlib.h>   /* argsort's scratch (malloc) */"
    float32_math = {"exp": "gc_expf", "cos": "gc_cosf"}
    float64_math = {"cos": "gc_cos"}
    par_threshold = 1 << 20   # OpenMP only when the work pays for it (and does not fight
                              # BLAS threads on small kernels)
    own_names = frozenset({"O", "R", "B", "o", "r", "ob", "oe", "ib", "bb", "im", "jn", "j0", "jj",
                           "accs", "a_ik", "gemm_out", "gemm_row"})
    own_families = (r"nan_r\d+", r"acc_r\d+")

    def __init__(self, blas: bool = True):
        self.blas = blas
        self.bools: set = set()   # the bool variables of the kernel being rendered
        self.bufs: dict = {}      # its program's buffers
        self.blocked = False      # its loop runs in whole blocks (padded_block)

    def render_kernel(self, k: KernelIR, bufs: dict, comment: bool = True) -> str:
        """The kernel's C function(s), after its header comment (its formulas) unless
        ``comment`` is False."""
        self.bools = {i.name for b in k.blocks() for i in b.instrs if i.dtype == "bool"}
        self.bufs, self.blocked = bufs, False
        decl, args = self.signature(k, bufs)
        body = getattr(self, k.kind)(k)
        sep = ",\n" + " " * (len(self.kernel_qual) + len(k.name) + 2)
        lines = self.header_comment(k) if comment else []
        split = None if self.blocked else split_parallel_loop(body)
        if split is not None:
            # the parallel loop's body as its own function: in the function GCC outlines
            # for OpenMP, the inner loops lose what restrict and the kernel's constants tell
            # the vectorizer (measured: a softmax-gradient row loop 35x slower there)
            frame, head, var, inner = split
            rows = f"{k.name}_step"
            lines += [f"__attribute__((noinline)) static void {rows}(const int64_t {var}, "
                      f"{sep.join(decl)}) {{"] + frame + inner + ["}"]
            body = frame + head + [f"        {rows}({var}, {', '.join(args)});", "    }"]
        lines.append(f"{self.kernel_qual} {k.name}({sep.join(decl)}) {{")
        lines += body
        lines.append("}")
        return "\n".join(lines)

    def instr(self, ins, ivars: list) -> str:
        # bool -> number as a select: GCC does not vectorize a bool-to-float conversion
        if (ins.op == "cast" and ins.dtype != "bool" and ins.args and isinstance(ins.args[0], str)
                and ins.args[0] in self.bools):
            t = ctype(ins.dtype)
            return f"const {t} {ins.name} = ({ins.args[0]} ? ({t})1 : ({t})0);"
        return super().instr(ins, ivars)

    def threads_clause(self, line: str) -> str:
        """A ``#pragma omp parallel ... if (COND) ...`` line with ``num_threads``: the
        process's CPUs (``gc_threads``) when COND holds."""
        start, end = line.find(" if ("), line.rfind(") schedule(")
        if start < 0 or end < start:
            return line
        cond = line[start + 5:end]
        return f"{line[:end + 1]} num_threads(({cond}) ? gc_threads() : 1){line[end + 1:]}"

    def omp(self, k: KernelIR, line: str) -> list:
        """``line`` (a ``#pragma omp parallel``), unless the kernel's size is known now and
        under the threshold: then its ``if`` clause is false on every call, yet GCC would
        still outline the loop for OpenMP, which more than doubles its compile time."""
        static = 1
        for m in k.dims:
            v = m.static()
            if v is None:
                return [self.threads_clause(line)]
            static *= v
        return [] if static <= self.par_threshold else [self.threads_clause(line)]

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
        if not self.blas or c_blas.blas_plan(k) is None or c_blas.direct_output(k, bufs):
            return []   # no BLAS, or BLAS writes the product where it belongs
        return [c_blas.epilogue_kernel(k, bufs, self)[0]]

    def scatter(self, k: KernelIR) -> list:
        """A scatter: the combine's identity, then every update combined at its index in
        one serial loop nest (duplicate indices combine in index order: deterministic)."""
        return self.zero_fill(k) + self.elementwise(k, parallel=False)

    def lines(self, k: KernelIR) -> list:
        """A line kernel: the lines in parallel (OpenMP when the work pays), each run
        serially along its axis: a scan's accumulator, or ``argsort``'s merge sort."""
        lines, names, outer, ax, ivars = self.line_frame(k, "int64_t")
        if k.line["op"] == "argsort":
            return lines + self.argsort(k, names, outer, ax, ivars)
        lines += self.omp(k, f"    #pragma omp parallel for if (O * N{ax} > "
                             f"{self.par_threshold} && O > 1) schedule(static)")
        lines.append("    for (int64_t o = 0; o < O; ++o) {")
        lines += decompose("o", outer, names, "        ", "int64_t")
        lines += self.line_scan(k, ivars, "        ", "int64_t")
        lines.append("    }")
        return lines

    def argsort(self, k: KernelIR, names, outer, ax, ivars) -> list:
        """A stable merge sort of each line's (key, index) pairs: runs of ``SORT_RUN`` by
        insertion, then merged pairwise (O(n log n)),
        lines in parallel (OpenMP when the work pays), each thread with its own scratch
        of n keys and 2n indices; a thread that cannot allocate it writes -1 (read later
        as an index out of range) for its lines."""
        store = k.body.stores[0]
        T, N, ind = ctype(k.line["dtype"]), f"N{ax}", "            "
        before = self.sort_before(k, "gc_kb", "gc_ka")
        insert_before = self.sort_before(k, "gc_kv", "gc_keys[gc_t - 1]")
        at = offset(store.strides, ivars)
        parallel = self.omp(k, f"    #pragma omp parallel if (O * {N} > {self.par_threshold} "
                               f"&& O > 1)")
        R, count = SORT_RUN, k.line["count"]
        kept = N if count is None else str(count)
        if count is not None and count <= SELECT_MAX:
            return parallel + self.select(k, names, outer, ax, ivars, count, bool(parallel))
        return parallel + [
            "    {",
            f"        const size_t gc_count = (size_t)({N} > 0 ? {N} : 1);",
            f"        {T}* gc_keys = ({T}*)malloc(gc_count * sizeof({T}));",
            f"        {T}* gc_keys2 = ({T}*)malloc(gc_count * sizeof({T}));",
            "        int64_t* gc_src = (int64_t*)malloc(gc_count * sizeof(int64_t));",
            "        int64_t* gc_dst = (int64_t*)malloc(gc_count * sizeof(int64_t));",
            "        const int gc_ok = gc_keys != NULL && gc_keys2 != NULL && gc_src != NULL "
            "&& gc_dst != NULL;",
            *(["        #pragma omp for schedule(static)"] if parallel else []),
            "        for (int64_t o = 0; o < O; ++o) {",
            *decompose("o", outer, names, ind, "int64_t"),
            f"{ind}if (!gc_ok) {{",
            f"{ind}    for (int64_t i{ax} = 0; i{ax} < {N}; ++i{ax}) {store.buf}[{at}] = -1;",
            f"{ind}    continue;",
            f"{ind}}}",
            f"{ind}{T}* gc_ks = gc_keys; {T}* gc_kd = gc_keys2;",
            f"{ind}int64_t* gc_is = gc_src; int64_t* gc_id = gc_dst;",
            f"{ind}/* runs of {R} by insertion (stable: an element passes only larger keys) */",
            f"{ind}for (int64_t i{ax} = 0; i{ax} < {N}; ++i{ax}) {{",
            *[f"{ind}    {self.instr(i, ivars)}" for i in k.body.instrs],
            f"{ind}    const {T} gc_kv = {self.operand(k.line['value'])};",
            f"{ind}    int64_t gc_t = i{ax};",
            f"{ind}    while (gc_t % {R} != 0 && {insert_before}) {{",
            f"{ind}        gc_keys[gc_t] = gc_keys[gc_t - 1]; gc_src[gc_t] = gc_src[gc_t - 1]; --gc_t;",
            f"{ind}    }}",
            f"{ind}    gc_keys[gc_t] = gc_kv; gc_src[gc_t] = i{ax};",
            f"{ind}}}",
            f"{ind}for (int64_t gc_w = {R}; gc_w < {N}; gc_w *= 2) {{   /* merge runs pairwise */",
            f"{ind}    for (int64_t gc_lo = 0; gc_lo < {N}; gc_lo += 2 * gc_w) {{",
            f"{ind}        const int64_t gc_mid = gc_lo + gc_w < {N} ? gc_lo + gc_w : {N};",
            f"{ind}        const int64_t gc_hi = gc_lo + 2 * gc_w < {N} ? gc_lo + 2 * gc_w : {N};",
            f"{ind}        int64_t gc_a = gc_lo, gc_b = gc_mid, gc_t = gc_lo;",
            f"{ind}        while (gc_a < gc_mid && gc_b < gc_hi) {{   /* ties: the left run first */",
            f"{ind}            const {T} gc_ka = gc_ks[gc_a], gc_kb = gc_ks[gc_b];",
            f"{ind}            if ({before}) {{ gc_kd[gc_t] = gc_kb; gc_id[gc_t++] = gc_is[gc_b++]; }}",
            f"{ind}            else {{ gc_kd[gc_t] = gc_ka; gc_id[gc_t++] = gc_is[gc_a++]; }}",
            f"{ind}        }}",
            f"{ind}        for (; gc_a < gc_mid; ++gc_a, ++gc_t) "
            f"{{ gc_kd[gc_t] = gc_ks[gc_a]; gc_id[gc_t] = gc_is[gc_a]; }}",
            f"{ind}        for (; gc_b < gc_hi; ++gc_b, ++gc_t) "
            f"{{ gc_kd[gc_t] = gc_ks[gc_b]; gc_id[gc_t] = gc_is[gc_b]; }}",
            f"{ind}    }}",
            f"{ind}    {T}* gc_kswap = gc_ks; gc_ks = gc_kd; gc_kd = gc_kswap;",
            f"{ind}    int64_t* gc_iswap = gc_is; gc_is = gc_id; gc_id = gc_iswap;",
            f"{ind}}}",
            f"{ind}for (int64_t i{ax} = 0; i{ax} < {kept}; ++i{ax}) {store.buf}[{at}] = gc_is[i{ax}];",
            "        }",
            "        free(gc_keys); free(gc_keys2); free(gc_src); free(gc_dst);",
            "    }",
        ]

    def select(self, k: KernelIR, names, outer, ax, ivars, count: int, parallel: bool) -> list:
        """``argsort`` keeping the first ``count`` (``top_k``): one pass over each line
        with the best ``count`` (key, index) pairs kept in order by insertion (a later
        element passes only strictly worse keys: stable), O(n) per line when few
        elements enter, O(n * count) at worst."""
        store = k.body.stores[0]
        T, N, C, ind = ctype(k.line["dtype"]), f"N{ax}", count, "            "
        at = offset(store.strides, ivars)
        better_than_worst = self.sort_before(k, "gc_kv", f"gc_keys[{C - 1}]")
        passes = self.sort_before(k, "gc_kv", "gc_keys[gc_t - 1]")
        return [
            "    {",
            f"        {T} gc_keys[{max(C, 1)}];",
            f"        int64_t gc_src[{max(C, 1)}];",
            *(["        #pragma omp for schedule(static)"] if parallel else []),
            "        for (int64_t o = 0; o < O; ++o) {",
            *decompose("o", outer, names, ind, "int64_t"),
            f"{ind}int64_t gc_filled = 0;",
            f"{ind}for (int64_t i{ax} = 0; i{ax} < {N} && {C} > 0; ++i{ax}) {{",
            *[f"{ind}    {self.instr(i, ivars)}" for i in k.body.instrs],
            f"{ind}    const {T} gc_kv = {self.operand(k.line['value'])};",
            f"{ind}    if (gc_filled == {C} && !{better_than_worst}) continue;",
            f"{ind}    int64_t gc_t = gc_filled < {C} ? gc_filled++ : {C - 1};",
            f"{ind}    while (gc_t > 0 && {passes}) {{",
            f"{ind}        gc_keys[gc_t] = gc_keys[gc_t - 1]; gc_src[gc_t] = gc_src[gc_t - 1]; --gc_t;",
            f"{ind}    }}",
            f"{ind}    gc_keys[gc_t] = gc_kv; gc_src[gc_t] = i{ax};",
            f"{ind}}}",
            f"{ind}for (int64_t i{ax} = 0; i{ax} < gc_filled; ++i{ax}) {store.buf}[{at}] = gc_src[i{ax}];",
            "        }",
            "    }",
        ]

    def elementwise(self, k: KernelIR, parallel: bool = True) -> list:
        n = len(k.dims)
        lines, names = dims_lines(k, "    ", "int64_t")
        ivars = [f"i{j}" for j in range(n)]
        if n == 0:
            return lines + ["    {"] + self.block(k.body, ivars, "        ") + ["    }"]
        simd = parallel and distinct_stores(k)
        block = padded_block(k, self.bufs) if simd and n == 1 else None
        if block:   # whole blocks, the last one into the padding: no remainder loop
            self.blocked = True
            lines += self.omp(k, f"    #pragma omp parallel for if (N0 > {self.par_threshold}) "
                                 "schedule(static)")
            lines += [f"    for (int64_t ib = 0; ib < N0; ib += {block}) {{   /* the last block "
                      "runs into the temps' padding */",
                      "        #pragma omp simd",
                      f"        for (int64_t i0 = ib; i0 < ib + {block}; ++i0) {{"]
            return lines + self.block(k.body, ivars, "            ") + ["        }", "    }"]
        if parallel:
            par = self.omp(k, f"    #pragma omp parallel for{' simd' if simd and n == 1 else ''}"
                              f" if ({product(names)} > {self.par_threshold}) schedule(static)")
            lines += par
            if simd and n == 1 and not par:
                lines.append("    #pragma omp simd")
        return lines + self.cut_loops(k, ivars, simd)

    def cut_loops(self, k: KernelIR, ivars: list, simd: bool) -> list:
        """The loop nest of an elementwise kernel (``n`` > 0 axes, the first one whole: it
        is the parallel loop), each inner loop cut where its pads' conditions change
        (``gate_split``) while the copies of the body stay within ``MAX_COPIES``."""
        n = len(k.dims)
        lines: list = []
        start = gate_split.initial_gates(k.body)
        # which axes to cut: the innermost first (its loads then vectorize), then from the
        # outside in, while the copies of the body stay within budget
        chosen, copies = set(), 1
        for j in [n - 1] + list(range(1, n - 1)):
            extent = k.dims[j].static()
            cut = (gate_split.segments(k.body, j, extent, start)
                   if j > 0 and extent is not None else None)
            if cut is not None and copies * len(cut) <= gate_split.MAX_COPIES:
                chosen.add(j)
                copies *= len(cut)

        def nest(j: int, indent: str, known: gate_split.Segment, copies: int) -> None:
            if j == n:
                cut = known.clamps or known.gates != start
                lines.extend(self.block(k.body, ivars, indent, piece=known if cut else None))
                return
            extent = k.dims[j].static()
            pieces = None
            if j in chosen and extent is not None:
                pieces = gate_split.segments(k.body, j, extent, known.gates, known.clamps)
            if pieces is not None and copies * len(pieces) > gate_split.MAX_COPIES:
                pieces = None
            pieces = pieces or [gate_split.Segment(0, f"N{j}", known.gates, known.clamps)]
            for piece in pieces:
                if simd and j == n - 1 and n > 1:
                    lines.append(f"{indent}#pragma omp simd")
                lines.append(f"{indent}for (int64_t i{j} = {piece.lo}; i{j} < {piece.hi}; "
                             f"++i{j}) {{")
                nest(j + 1, indent + "    ", piece, copies * len(pieces))
                lines.append(indent + "}")
        nest(0, "    ", gate_split.Segment(0, "", start), 1)
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
            # one column axis read through pads: the column loop cut at their edges
            extent = k.dims[outer[0]].static() if len(outer) == 1 else None
            pieces = (gate_split.segments(p.block, outer[0], extent) if extent is not None
                      else None)
            for piece in pieces or [gate_split.WHOLE]:
                first, end = ("ob", "oe") if pieces is None else (
                    f"(ob > {piece.lo} ? ob : {piece.lo})", f"(oe < {piece.hi} ? oe : {piece.hi})")
                lines.append("            #pragma omp simd")
                lines.append(f"            for (int64_t o = {first}; o < {end}; ++o) {{")
                lines += [("    " + x) for x in decompose("o", outer, names, "            ",
                                                          "int64_t")]
                lines += ["    " + x for x in prior(idx)]
                lines += self.block(p.block, ivars, "                ",
                                    piece=piece if pieces else None,
                                    roots=(p.value,) if isinstance(p.value, str) else ())
                if p.op == "sum":
                    lines.append(f"                {acc} += {value};")
                else:
                    lines.append(f"                {acc} = ({value} > {acc} || {value} != "
                                 f"{value}) ? {value} : {acc};")
                lines.append("            }")
            lines.append("        }")
        lines += simd_line("        ", distinct_stores(k, blocks=[k.epilogue]))
        lines.append("        for (int64_t o = ob; o < oe; ++o) {")
        lines += decompose("o", outer, names, "            ", "int64_t")
        lines += prior(len(k.phases))
        lines += self.block(k.epilogue, ivars, "            ")
        lines.append("        }")
        if k.body.instrs or k.body.stores:
            lines.append("        for (int64_t r = 0; r < R; ++r) {")
            lines += decompose("r", red, names, "            ", "int64_t")
            lines += simd_line("            ", distinct_stores(k, blocks=[k.body]))
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
        # values a later pass over the row would compute again: kept in a row array
        row = (k.dims[red[0]].static() or 0) if len(red) == 1 else 0
        cache = row_cache.plan_row_cache([p.block for p in k.phases] + [k.body], row) \
            if row else row_cache.RowCachePlan()
        lines += [f"        {ctype(dt)} rc_{s}[{row}];" for s, dt in enumerate(cache.dtypes)]

        def cached_block(b: int, blk, inner: str, value=None) -> list:
            if not cache:
                return self.block(blk, ivars, inner)
            roots = tuple(cache.stores[b]) + ((value,) if isinstance(value, str) else ())
            out = self.block(blk, ivars, inner, roots=roots,
                             cached={n: f"rc_{s}[r]" for n, s in cache.loads[b].items()})
            return out + [f"{inner}rc_{s}[r] = {n};" for n, s in cache.stores[b].items()]
        for idx, p in enumerate(k.phases):
            acc, value = f"a_{p.result}", self.operand(p.value)
            is_float = np.dtype(p.dtype).kind == "f"
            lines.append(f"        {self.acc_type(p.op, p.dtype)} {acc} = "
                         f"{reduce_identity(p.op, p.dtype)};")
            if p.op == "sum":
                pragma = f"#pragma omp simd reduction(+:{acc})"
            elif is_float:
                lines.append(f"        int nan_{p.result} = 0;")
                pragma = (f"#pragma omp simd reduction(max:{acc}) "
                          f"reduction(|:nan_{p.result})")
            else:
                pragma = f"#pragma omp simd reduction(max:{acc})"
            opened, inner, closed = reduced_loops(red, names, "        ", [pragma])
            lines += opened + cached_block(idx, p.block, inner, p.value)
            if p.op == "sum":
                lines.append(f"{inner}{acc} += {value};")
            else:
                lines.append(f"{inner}{acc} = {value} > {acc} ? {value} : {acc};")
                if is_float:
                    lines.append(f"{inner}nan_{p.result} |= {value} != {value};")
            lines += closed
            if p.op == "max" and is_float:
                lines.append(f"        if (nan_{p.result}) {acc} = NAN;")
            lines.append(f"        const {ctype(p.dtype)} {p.result} = ({ctype(p.dtype)}){acc};")
        lines += self.block(k.epilogue, ivars, "        ")
        if k.body.instrs or k.body.stores:
            opened, inner, closed = reduced_loops(
                red, names, "        ", simd_line("", distinct_stores(k, red[-1], [k.body])))
            lines += opened + cached_block(len(k.phases), k.body, inner) + closed
        lines.append("    }")
        return lines

    def matmul(self, k: KernelIR) -> list:
        """Per output row, GEMM_COLUMNS columns at a time: the row of A is read once per
        column block and the accumulators stay in registers/L1."""
        assert k.a is not None and k.b is not None  # a matmul kernel has both operand blocks
        lines, names = dims_lines(k, "    ", "int64_t")
        batch, m_ax, n_ax, k_ax, M, N, K = mm_sizes(k, names)
        iv = [f"i{j}" for j in range(len(k.dims))]
        acc_t = self.acc_type("sum", k.acc_dtype) if k.acc_dtype != "float32" else "float"
        T, W = ctype(k.acc_dtype), GEMM_COLUMNS
        ind = "        "
        lines.append(f"    const int64_t B = {product([names[a] for a in batch])};")
        lines.append(self.threads_clause(
            f"    #pragma omp parallel for collapse(2) if (B * {M} * {N} * {K} > "
            f"{self.par_threshold}) schedule(static)"))
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
        lines.append(f"{ind}        #pragma omp simd")
        lines.append(f"{ind}        for (int64_t jj = 0; jj < jn; ++jj) {{")
        if n_ax is not None:
            lines.append(f"{ind}            const int64_t i{n_ax} = j0 + jj;")
        lines += self.block(k.b, iv, ind + "            ")
        lines.append(f"{ind}            accs[jj] += a_ik * {self.operand(k.b_value)};")
        lines.append(f"{ind}        }}")
        lines.append(f"{ind}    }}")
        lines += simd_line(f"{ind}    ", n_ax is not None and distinct_stores(k, n_ax, [k.body]))
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
