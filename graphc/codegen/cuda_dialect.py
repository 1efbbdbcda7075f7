"""The CUDA dialect: grid-stride loops over the index space, one block per row for
reductions (one thread per column for column reductions), and a shared-memory tiled
GEMM. Math, NAN/INFINITY and gc_max come from ``graphc_cuda.h``.

>>> import graphc as gc
>>> from graphc.codegen.base import Program
>>> from graphc.codegen.kernel_ir import lower
>>> x = gc.placeholder("x", (8,))
>>> pir = lower(Program("f", (x,), (), (gc.exp(x),)))
>>> "expf(v1)" in CUDA.render_kernel(pir.kernels[0], pir.buffers)
True
"""
from __future__ import annotations

from .c_family import (CFamilyRenderer, ctype, decompose, dims_lines, is_column_reduction,
                       mm_sizes, offset, product, reduce_identity)
from .kernel_types import Block, KernelIR

TILE, TK, THREADS_2D = 64, 16, 16   # GEMM: 64x64 tile, k-step 16, 16x16 threads x 4x4


class CudaDialect(CFamilyRenderer):
    """CUDA C: kernels are ``__global__`` functions walked by threads."""

    name = "cuda"
    gpu = True
    kernel_qual = "__global__ void"
    restrict = "GC_RESTRICT"
    index_t = "gc_index_t"
    sum_acc_f32 = "float"
    host_qual = "GC_EXPORT "
    prelude = '#include "graphc_cuda.h"\n#include <stdbool.h>\n'
    function_qual = "static GC_DEVICE"
    block_threads = 256      # threads per block of elementwise and column kernels
    own_names = frozenset({"total", "flat", "O", "R", "o", "r", "bz", "tx", "ty", "row0",
                           "col0", "c", "kt", "e", "ii", "kk", "jj", "val", "m", "q", "row",
                           "col", "As", "Bs", "a_frag", "b_frag"})
    own_families = (r"scratch_\d+",)

    def index_type(self, k: KernelIR, extra: int = 1) -> str:
        """``int`` when every index fits (faster on a GPU), else the 64-bit index type."""
        total = 1
        for m in k.dims:
            if m.static() is None:
                return self.index_t
            total *= m.static()
        return "int" if total * extra < 2**31 - 1 else self.index_t

    linalg_max_n = 64   # matrices are per-thread local arrays; larger ones need cuSOLVER

    def linalg(self, k: KernelIR) -> list:
        """One thread per matrix of the batch (grid-stride), its scratch in local arrays;
        a failed factorization leaves NaN in that matrix's output (the flag)."""
        from ..errors import UsageError
        from . import linalg_kernels
        spec = k.linalg
        if max(spec["n"], spec["m"]) > self.linalg_max_n:
            raise UsageError(f"gc.linalg: {spec['op']} of {spec['m']}x{spec['n']} matrices "
                             f"is not supported by backend='cuda' (generated kernels take "
                             f"matrices up to {self.linalg_max_n}x{self.linalg_max_n}; "
                             f"cuSOLVER is not linked); use backend='c' or 'numpy'")
        T = ctype(spec["dtype"])
        ws, npiv = linalg_kernels.scratch(spec)
        lines, names = dims_lines(k, "    ", "int64_t")
        lines.append(f"    const int64_t la_B = {product(names)};")
        lines.append("    for (int64_t la_bb = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; "
                     "la_bb < la_B; la_bb += (int64_t)gridDim.x * blockDim.x) {")
        lines.append(f"        {T} la_w[{max(ws, 1)}]; (void)la_w;")
        lines.append(f"        int64_t la_piv[{max(npiv, 1)}]; (void)la_piv;")
        lines += self.linalg_matrix(k, "        ")
        lines.append("    }")
        return lines

    def elementwise(self, k: KernelIR) -> list:
        n = len(k.dims)
        it = self.index_type(k)
        lines, names = dims_lines(k, "    ", it)
        ivars = [f"i{j}" for j in range(n)]
        lines.append(f"    const {it} total = {product(names)};")
        lines.append(f"    for ({it} flat = ({it})blockIdx.x * blockDim.x + threadIdx.x; "
                     f"flat < total; flat += ({it})gridDim.x * blockDim.x) {{")
        lines += decompose("flat", list(range(n)), names, "        ", it)
        lines += self.block(k.body, ivars, "        ")
        lines.append("    }")
        return lines

    def scatter(self, k: KernelIR) -> list:
        """A scatter: one thread per update, combined with an atomic (``atomicAdd``; a
        compare-and-swap loop, ``gc_atomic_apply``, for mul/min/max): duplicates combine
        in an unspecified order, so float sums and products may differ in the last bits
        from run to run); the host fills the output with the combine's identity first
        (``gcMemset`` for zeros, else the ``gc_fill`` kernel)."""
        return self.elementwise(k)

    def lines(self, k: KernelIR) -> list:
        """A line kernel. Scans: one thread per line, serial along the axis (threads of a
        warp walk neighbouring lines). ``argsort``: one thread per element, which counts
        the elements of its line that sort before it (its rank, O(n) per thread, O(n^2)
        per line: no scratch memory; stable, ties ranked by index) and writes its index
        there."""
        it = self.index_type(k)
        lines, names, outer, ax, ivars = self.line_frame(k, it)
        grid = f"({it})blockIdx.x * blockDim.x + threadIdx.x"
        stride = f"({it})gridDim.x * blockDim.x"
        if k.line["op"] != "argsort":
            lines.append(f"    for ({it} o = {grid}; o < O; o += {stride}) {{")
            lines += decompose("o", outer, names, "        ", it)
            lines += self.line_scan(k, ivars, "        ", it)
            return lines + ["    }"]
        store, T = k.body.stores[0], ctype(k.line["dtype"])
        ranked = ivars[:ax] + ["gc_rank"] + ivars[ax + 1:]
        before = self.sort_before(k, "gc_other", "gc_key")
        after = self.sort_before(k, "gc_key", "gc_other")
        lines.append(f"    const {it} total = {product(names)};")
        lines.append(f"    for ({it} flat = {grid}; flat < total; flat += {stride}) {{")
        lines += decompose("flat", list(range(len(k.dims))), names, "        ", it)
        lines += self.block(Block(k.body.instrs), ivars, "        ")
        lines += [f"        const {T} gc_key = {self.operand(k.line['value'])};",
                  f"        const {it} gc_self = i{ax};",
                  f"        {it} gc_rank = 0;",
                  f"        for ({it} gc_j = 0; gc_j < N{ax}; ++gc_j) {{",
                  f"            const {it} i{ax} = gc_j;   /* the other element's values */"]
        lines += self.block(Block(k.body.instrs), ivars, "            ")
        lines += [f"            const {T} gc_other = {self.operand(k.line['value'])};",
                  f"            gc_rank += {before} || (!{after} && gc_j < gc_self);",
                  "        }",
                  (f"        {store.buf}[{offset(store.strides, ranked)}] = gc_self;"
                   if k.line["count"] is None else   # top_k: only the first count ranks
                   f"        if (gc_rank < {k.line['count']}) "
                   f"{store.buf}[{offset(store.strides, ranked)}] = gc_self;"),
                  "    }"]
        return lines

    def accumulate_store(self, target: str, value: str, combine: str) -> str:
        if combine == "add":
            return f"atomicAdd(&{target}, {value});"
        return f"gc_atomic_apply<gc_op_{combine}>(&{target}, {value});"

    data_index_helpers = ""   # gc_checked_index is in graphc_cuda.h (a device-side flag)

    def data_index(self, value: str, size: str, site: int) -> str:
        """An index out of range sets the device's fault flag (read by the host after the
        call: an ``IndexError``) and is clamped into the axis (memory-safe)."""
        return f"gc_checked_index({value}, {size}, {site})"

    @staticmethod
    def r_loop(loop: str, body: list, red, names, it) -> list:
        """``for (loop) { <r decomposed into the reduced axes> body }`` at a row's indent."""
        return ([f"        for ({loop}) {{"] + decompose("r", red, names, "            ", it)
                + body + ["        }"])

    def accumulate(self, p, acc_t: str, loop: str, red, names, ivars, it) -> list:
        """A reduction phase's accumulator and its loop over the reduced index ``r``."""
        value = self.operand(p.value)
        step = (f"            a_{p.result} += {value};" if p.op == "sum" else
                f"            a_{p.result} = gc_max(a_{p.result}, ({acc_t}){value});")
        return ([f"        {acc_t} a_{p.result} = {reduce_identity(p.op, p.dtype)};"]
                + self.r_loop(loop, self.block(p.block, ivars, "            ") + [step],
                              red, names, it))

    def reduce_columns(self, k: KernelIR) -> list:
        """One thread per output (column): each walks its rows; threads of a warp read
        consecutive addresses at every step (coalesced), no shared memory needed."""
        it = self.index_type(k)
        lines, names, outer, red, ivars = self.reduction_frame(k, it)
        lines.append(f"    for ({it} o = ({it})blockIdx.x * blockDim.x + threadIdx.x; o < O; "
                     f"o += ({it})gridDim.x * blockDim.x) {{")
        lines += decompose("o", outer, names, "        ", it)
        for p in k.phases:
            acc_t = self.acc_type(p.op, p.dtype)
            lines += self.accumulate(p, acc_t, f"{it} r = 0; r < R; ++r", red, names, ivars, it)
            lines.append(f"        const {ctype(p.dtype)} {p.result} = "
                         f"({ctype(p.dtype)})a_{p.result};")
        lines += self.block(k.epilogue, ivars, "        ")
        if k.body.instrs or k.body.stores:
            lines += self.r_loop(f"{it} r = 0; r < R; ++r",
                                 self.block(k.body, ivars, "            "), red, names, it)
        lines.append("    }")
        return lines

    def reduce(self, k: KernelIR) -> list:
        if is_column_reduction(k):
            return self.reduce_columns(k)
        it = self.index_type(k)
        lines, names, outer, red, ivars = self.reduction_frame(k, it)
        scratch: dict = {}
        for p in k.phases:
            acc_t = self.acc_type(p.op, p.dtype)
            if acc_t not in scratch:
                scratch[acc_t] = f"scratch_{len(scratch)}"
                lines.insert(0, f"    __shared__ {acc_t} {scratch[acc_t]}[32];")
        lines.append(f"    for ({it} o = blockIdx.x; o < O; o += gridDim.x) {{")
        lines += decompose("o", outer, names, "        ", it)
        for p in k.phases:
            acc_t = self.acc_type(p.op, p.dtype)
            lines += self.accumulate(p, acc_t, f"{it} r = threadIdx.x; r < R; r += blockDim.x",
                                     red, names, ivars, it)
            fn = "gc_block_allreduce_sum" if p.op == "sum" else "gc_block_allreduce_max"
            lines.append(f"        const {ctype(p.dtype)} {p.result} = ({ctype(p.dtype)}){fn}"
                         f"(a_{p.result}, {scratch[acc_t]});")
        lines += self.block(k.epilogue, ivars, "        ", guard="threadIdx.x == 0")
        if k.body.instrs or k.body.stores:
            lines += self.r_loop(f"{it} r = threadIdx.x; r < R; r += blockDim.x",
                                 self.block(k.body, ivars, "            "), red, names, it)
        lines.append("    }")
        return lines

    def tile_load(self, dst, pos, split, origin, ax, size, operand, value, k_ax, K, T, it,
                  iv) -> list:
        """One GEMM operand's TK x TILE tile into shared ``dst`` (zeros past the edges);
        ``split`` is the statement that splits the flat ``e`` into ``kk`` and ``pos``."""
        lines = [f"        for (int e = threadIdx.x; e < {TILE * TK}; e += blockDim.x) {{",
                 f"            {split}",
                 f"            const {it} i{k_ax} = kt + kk;"]
        if ax is not None:
            lines.append(f"            const {it} i{ax} = {origin} + {pos};")
            cond = f"i{ax} < {size} && i{k_ax} < {K}"
        else:
            cond = f"{origin} + {pos} < 1 && i{k_ax} < {K}"
        lines += [f"            {T} val = 0;", f"            if ({cond}) {{"]
        lines += self.block(operand, iv, "                ")
        lines += [f"                val = {self.operand(value)};", "            }",
                  f"            {dst}[kk][{pos}] = val;", "        }"]
        return lines

    def matmul(self, k: KernelIR) -> list:
        it = self.index_type(k)
        lines, names = dims_lines(k, "    ", it)
        batch, m_ax, n_ax, k_ax, M, N, K = mm_sizes(k, names)
        iv = [f"i{j}" for j in range(len(k.dims))]
        T = ctype(k.acc_dtype)
        head = [f"    __shared__ {T} As[{TK}][{TILE}];",
                f"    __shared__ {T} Bs[{TK}][{TILE} + 1];"]
        lines = head + lines
        lines += [
            f"    const {it} bz = blockIdx.z;",
            f"    if (bz >= {product([names[a] for a in batch])}) return;   /* empty batch */",
            *decompose("bz", batch, names, "    ", it),
            "    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;",
            f"    const {it} row0 = ({it})blockIdx.y * {TILE}, col0 = ({it})blockIdx.x * {TILE};",
            f"    {T} c[4][4];",
            "    for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) c[m][q] = 0;",
            f"    for ({it} kt = 0; kt < {K}; kt += {TK}) {{",
        ]
        # both tiles are stored k-major: As[kk][row], Bs[kk][col]
        lines += self.tile_load("As", "ii", f"const int ii = e / {TK}, kk = e % {TK};", "row0",
                                m_ax, M, k.a, k.a_value, k_ax, K, T, it, iv)
        lines += self.tile_load("Bs", "jj", f"const int kk = e / {TILE}, jj = e % {TILE};",
                                "col0", n_ax, N, k.b, k.b_value, k_ax, K, T, it, iv)
        lines += [
            "        __syncthreads();",
            f"        for (int kk = 0; kk < {TK}; ++kk) {{",
            f"            {T} a_frag[4], b_frag[4];",
            "            for (int m = 0; m < 4; ++m) a_frag[m] = As[kk][ty + 16 * m];",
            "            for (int q = 0; q < 4; ++q) b_frag[q] = Bs[kk][tx + 16 * q];",
            "            for (int m = 0; m < 4; ++m) for (int q = 0; q < 4; ++q) "
            "c[m][q] += a_frag[m] * b_frag[q];",
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
        lines += self.block(k.body, iv, "            ")
        lines += ["        }", "    }"]
        return lines


CUDA = CudaDialect()
