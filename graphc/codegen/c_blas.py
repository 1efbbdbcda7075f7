"""The C backend's optional BLAS path: which matmul kernels map onto one
``cblas_?gemm`` call, the epilogue kernel that applies their fused ops to the BLAS
product, and the host code that calls BLAS through a function pointer (set at load
time; left unset, the generated GEMM runs). C only: CUDA always runs its own GEMM.

>>> import graphc as gc
>>> from graphc.codegen.base import Program
>>> from graphc.codegen.kernel_ir import lower
>>> a, b = gc.placeholder("a", (3, 4)), gc.placeholder("b", (4, 5))
>>> plan = blas_plan(lower(Program("f", (a, b), (), (a @ b,))).kernels[0])
>>> plan["a"], plan["b"], plan["ta"], plan["tb"]
('a', 'b', False, False)
"""
from __future__ import annotations

import numpy as np

from .c_family import ctype, dims_lines
from .kernel_types import KernelIR, Mono, ProgramIR


# the host identifiers this module emits (gc_sgemm... are in the gc_ family)
HOST_NAMES = frozenset({"gemm_bytes", "gemm_b", "off_gemm", "gemm_out", "gemm_i", "gemm_row"})


def blas_plan(k: KernelIR) -> dict | None:
    """How a matmul kernel maps onto ``cblas_?gemm`` calls, one per batch slice (None: it
    does not). Transposed operands become GEMM flags, broadcast batch axes zero strides."""
    if k.kind != "matmul" or k.acc_dtype not in ("float32", "float64"):
        return None
    batch, m_ax, n_ax, k_ax = k.mm_axes
    assert k.a is not None and k.b is not None  # a matmul kernel has both operand blocks
    if len(k.a.instrs) != 1 or len(k.b.instrs) != 1:
        return None
    la, lb = k.a.instrs[0], k.b.instrs[0]
    if la.op != "load" or lb.op != "load" or la.dtype != k.acc_dtype or lb.dtype != k.acc_dtype:
        return None
    if la.gated or lb.gated:
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
        if rs == one and cols == one:
            return True, rows
        return None

    a = layout(la, m_ax, k_ax)
    b = layout(lb, k_ax, n_ax)
    if a is None or b is None:
        return None
    M = k.dims[m_ax] if m_ax is not None else one
    N = k.dims[n_ax] if n_ax is not None else one
    B = one
    for ax in batch:
        B = B * k.dims[ax]
    return {"a": la.buf, "b": lb.buf, "ta": a[0], "lda": a[1], "tb": b[0], "ldb": b[1],
            "M": M, "N": N, "K": k.dims[k_ax], "size": B * M * N, "B": B,
            # per batch axis: (size, stride in a, stride in b)
            "batch": [(k.dims[ax], la.strides[ax], lb.strides[ax]) for ax in batch],
            "a_offset": la.offset, "b_offset": lb.offset}


def epilogue_kernel(k: KernelIR, bufs: dict, d) -> tuple[str, list]:
    """(``<name>_epilogue``: the matmul's fused epilogue reading ``acc`` from ``gemm_out``
    (the batch slices' products one after another), its argument names); ``d`` is the C
    dialect renderer."""
    from .c_family import decompose, product
    batch, m_ax, n_ax, k_ax = k.mm_axes
    T = ctype(k.acc_dtype)
    reads = [b for b in dict.fromkeys(i.buf for i in k.body.instrs if i.op == "load")]
    writes = list(dict.fromkeys(s.buf for s in k.body.stores))
    sizes: set[str] = set()
    for m in k.dims:
        sizes.update(m.syms)
    for i in k.body.instrs:
        for s in i.strides:
            sizes.update(s.syms)
        for m in i.offset:
            sizes.update(m.syms)
    for s in k.body.stores:
        for m in s.strides:
            sizes.update(m.syms)
    size_names = sorted(sizes)
    decl = [f"const int64_t {s}" for s in size_names]
    decl += [f"const {ctype(bufs[b].dtype)}* {d.restrict} {b}" for b in reads if b not in writes]
    decl.append(f"const {T}* {d.restrict} gemm_out")
    decl += [f"{ctype(bufs[b].dtype)}* {d.restrict} {b}" for b in writes]
    args = size_names + [b for b in reads if b not in writes] + ["gemm_out"] + writes
    lines, names = dims_lines(k, "    ", "int64_t")
    M = names[m_ax] if m_ax is not None else "1"
    N = names[n_ax] if n_ax is not None else "1"
    iv = [f"i{j}" for j in range(len(k.dims))]
    out = [f"/* {k.name}_epilogue: the epilogue of {k.name} over a BLAS product */",
           f"static void {k.name}_epilogue({', '.join(decl)}) {{"] + lines
    out.append(f"    const int64_t B = {product([names[a] for a in batch])};")
    out.append(d.threads_clause(f"    #pragma omp parallel for collapse(2) if (B * {M} * {N} > "
                                f"{d.par_threshold}) schedule(static)"))
    out.append("    for (int64_t bb = 0; bb < B; ++bb) {")
    out.append(f"    for (int64_t im = 0; im < {M}; ++im) {{")
    out += decompose("bb", batch, names, "        ", "int64_t")
    if m_ax is not None:
        out.append(f"        const int64_t i{m_ax} = im;")
    out.append(f"        const {T}* gemm_row = gemm_out + (bb * {M} + im) * {N};")
    simd = n_ax is None or all(not s.strides[n_ax].is_zero for s in k.body.stores)
    if simd:
        out.append("        #pragma omp simd")
    out.append(f"        for (int64_t jn = 0; jn < {N}; ++jn) {{")
    if n_ax is not None:
        out.append(f"            const int64_t i{n_ax} = jn;")
    out.append(f"            const {T} acc = gemm_row[jn];")
    out += d.block(k.body, iv, "            ")
    out += ["        }", "    }", "    }", "}"]
    return "\n".join(out), args


BLAS_DECL = """\
/* Optional BLAS (cblas_?gemm with 64-bit ints), set by <prefix>_set_blas; when unset,
 * matmuls run the generated kernels above. */
typedef void (*gc_sgemm_t)(int, int, int, int64_t, int64_t, int64_t, float, const float*,
                           int64_t, const float*, int64_t, float, float*, int64_t);
typedef void (*gc_dgemm_t)(int, int, int, int64_t, int64_t, int64_t, double, const double*,
                           int64_t, const double*, int64_t, double, double*, int64_t);
typedef void (*gc_sgemv_t)(int, int, int64_t, int64_t, float, const float*, int64_t,
                           const float*, int64_t, float, float*, int64_t);
typedef void (*gc_dgemv_t)(int, int, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);
static gc_sgemm_t gc_sgemm = 0;
static gc_dgemm_t gc_dgemm = 0;
static gc_sgemv_t gc_sgemv = 0;
static gc_dgemv_t gc_dgemv = 0;
"""


def host_setter(prefix: str) -> list:
    """The BLAS declarations and ``<prefix>_set_blas``, which installs the pointers."""
    return [BLAS_DECL, f"void {prefix}_set_blas(void* sgemm, void* dgemm, void* sgemv, "
            "void* dgemv) {",
            "    gc_sgemm = (gc_sgemm_t)sgemm;", "    gc_dgemm = (gc_dgemm_t)dgemm;",
            "    gc_sgemv = (gc_sgemv_t)sgemv;", "    gc_dgemv = (gc_dgemv_t)dgemv;", "}", ""]


def workspace_lines(pir: ProgramIR) -> tuple[list, dict]:
    """Workspace lines reserving the BLAS output scratch; kernel name -> BLAS plan."""
    plans = {k.name: p for k in pir.kernels if (p := blas_plan(k)) is not None}
    lines = ["    int64_t gemm_bytes = 0;"]
    for name, p in plans.items():
        k = next(k for k in pir.kernels if k.name == name)
        lines.append(f"    {{ const int64_t gemm_b = (int64_t){p['size'].c()} * "
                     f"{np.dtype(k.acc_dtype).itemsize}; if (gemm_b > gemm_bytes) "
                     "gemm_bytes = gemm_b; }")
    lines.append("    const int64_t off_gemm = ws_total; ws_total += (gemm_bytes + 63) / 64 * 64;"
                 " (void)off_gemm;")
    return lines, plans


def batch_offset(plan: dict, which: str) -> str:
    """C offset of operand ``which`` ("a"/"b") in batch slice ``gemm_i``: its constant
    offset plus, per batch axis, that axis's index times the operand's stride."""
    terms = [m.c() for m in plan[f"{which}_offset"]]
    after = Mono(1)
    for size, sa, sb in reversed(plan["batch"]):
        stride = sa if which == "a" else sb
        if not stride.is_zero:
            index = "gemm_i" if after == Mono(1) else f"(gemm_i / ({after.c()}))"
            terms.append(f"({index} % ({size.c()})) * ({stride.c()})")
        after = after * size
    return " + ".join(terms) if terms else "0"


def direct_output(k: KernelIR, bufs: dict) -> str | None:
    """The buffer the product can be written into directly: the kernel's only work is
    storing ``acc`` into a buffer laid out as the product (batch slices, rows, columns),
    so no epilogue (and no copy) is needed; else None."""
    if k.body.instrs or len(k.body.stores) != 1 or k.epilogue.instrs or k.epilogue.stores:
        return None
    st = k.body.stores[0]
    if st.value != "acc" or st.gated or st.accumulate:
        return None
    batch, m_ax, n_ax, k_ax = k.mm_axes
    want, step = {}, Mono(1)
    for ax in [a for a in (n_ax, m_ax) if a is not None] + list(reversed(batch)):
        want[ax] = step
        step = step * k.dims[ax]
    for ax, stride in enumerate(st.strides):
        if ax == k_ax:
            if not stride.is_zero:
                return None
        elif stride != want.get(ax, stride) and not (k.dims[ax] == Mono(1)):
            return None
    return st.buf if bufs[st.buf].dtype == k.acc_dtype else None


def host_call(k: KernelIR, plan: dict, pir: ProgramIR, d) -> list:
    """Run kernel ``k`` through BLAS (one GEMM per batch slice) + its epilogue when the
    pointer is set, else itself."""
    T = "float" if k.acc_dtype == "float32" else "double"
    fn = "gc_sgemm" if T == "float" else "gc_dgemm"
    _, args = epilogue_kernel(k, pir.buffers, d)
    _, full = d.signature(k, pir.buffers)
    ta, tb = (112 if plan["ta"] else 111), (112 if plan["tb"] else 111)
    M, N = plan["M"].c(), plan["N"].c()
    direct = direct_output(k, pir.buffers)
    target = direct or f"({T}*)(ws + off_gemm)"
    epilogue = ([f"        {k.name}_epilogue({', '.join(args)});"] if direct is None else [])
    a_at = f"{plan['a']} + {batch_offset(plan, 'a')}"
    b_at = f"{plan['b']} + {batch_offset(plan, 'b')}"
    K = plan["K"].c()
    if plan["N"] == Mono(1) and plan["M"] != Mono(1):
        # matrix-vector (OpenBLAS runs GEMM with N = 1 several times slower): y = op(A) b;
        # b's K elements are b_at[k * incb], its stride along K ("ldb" of a K x 1 view)
        fn = "gc_sgemv" if T == "float" else "gc_dgemv"
        rows, cols = (K, M) if plan["ta"] else (M, K)
        inc = "1" if plan["tb"] else plan["ldb"].c()
        call = (f"{fn}(101, {ta}, {rows}, {cols}, 1, {a_at}, {plan['lda'].c()}, {b_at}, "
                f"{inc}, 0, gemm_out + gemm_i * ({M}), 1);")
    elif plan["M"] == Mono(1) and plan["N"] != Mono(1):
        # vector-matrix: y = op(B)^T a, a's K elements strided by its K stride
        fn = "gc_sgemv" if T == "float" else "gc_dgemv"
        rows, cols = (N, K) if plan["tb"] else (K, N)
        trans = 111 if plan["tb"] else 112
        inc = plan["lda"].c() if plan["ta"] else "1"
        call = (f"{fn}(101, {trans}, {rows}, {cols}, 1, {b_at}, {plan['ldb'].c()}, {a_at}, "
                f"{inc}, 0, gemm_out + gemm_i * ({N}), 1);")
    else:
        call = (f"{fn}(101, {ta}, {tb}, {M}, {N}, {K}, 1, {a_at}, {plan['lda'].c()}, {b_at}, "
                f"{plan['ldb'].c()}, 0, gemm_out + gemm_i * ({M}) * ({N}), {N});")
    return [f"    if ({fn}) {{   /* {k.name} through BLAS"
            f"{', then its epilogue' if direct is None else ''} */",
            f"        {T}* gemm_out = {target};",
            f"        for (int64_t gemm_i = 0; gemm_i < {plan['B'].c()}; ++gemm_i)",
            f"            {call}",
            *epilogue,
            "    } else {",
            f"        {k.name}({', '.join(full)});",
            "    }"]
