"""The C backend's host code: ``<prefix>_workspace_bytes`` and ``<prefix>_run``, which
lays out the workspace and calls every kernel in order.

Its shape is set by compile time on large programs (a 10,000-node chain and its
gradient: ~3,500 buffers, ~320 kernel calls). One function holding every buffer's offset
and pointer as a local cost GCC ~5 s of register allocation, so:

* the memory plan's byte sizes are a table read by one loop (``<prefix>_layout``), which
  writes each buffer's offset into a table at the start of the workspace;
* the kernel calls are grouped ``PART_CALLS`` at a time into ``<prefix>_part<i>``
  functions, each declaring only the pointers its kernels take, compiled without
  optimization by GCC (a program with few kernels calls them from ``run`` itself).

>>> import graphc as gc
>>> from graphc.codegen.base import Program
>>> from graphc.codegen.kernel_ir import lower
>>> x = gc.placeholder("x", (None,))
>>> pir = lower(Program("f", (x,), (), (gc.exp(gc.exp(x) + x) * 2,)))
>>> text = render_host(pir)
>>> "graphc_f_layout(sizes, (int64_t*)workspace);" in text
True
"""
from __future__ import annotations

import numpy as np

from . import c_blas, c_lapack
from .c_dialect import C
from .c_family import ctype
from .kernel_types import ProgramIR
from .native_host import INDEX_FAULT, memory_plan, prefix, sizes_lines

PART_CALLS = 16   # kernel calls per host function

# A part only hands pointers to kernels: GCC's optimizer gains nothing there and its
# register allocation over hundreds of pointers is most of the host's compile time
# (10,000-node chain: 2.4 s at -O3, 0.1 s at -O0).
PART_QUALIFIER = [
    "#if defined(__GNUC__) && !defined(__clang__)",
    '#define GC_HOST_PART __attribute__((noinline, optimize("O0"))) static',
    "#else",
    "#define GC_HOST_PART __attribute__((noinline)) static",
    "#endif"]


def layout_table(pir: ProgramIR) -> tuple[list, list, list, dict]:
    """(bytes per element of the size term, size term index, the size terms as C
    expressions, temp name -> buffer index) of each buffer of the memory plan."""
    plan = memory_plan(pir)
    terms: dict = {"1": 0}
    elem_bytes, term_of = [], []
    for b in plan.buffers:
        known = int(np.dtype(b.dtype).itemsize)
        syms = []
        for d in b.dims:
            if isinstance(d, (int, np.integer)):
                known *= int(d)
            else:
                syms.append(str(d))
        term = "*".join(syms) or "1"
        elem_bytes.append(known)
        term_of.append(terms.setdefault(term, len(terms)))
    where = {t.name: plan.buffer_of[t.name] for t in pir.temps if t.name in plan.buffer_of}
    return elem_bytes, term_of, list(terms), where


def render_layout(pir: ProgramIR, pre: str, gemm_lines: list) -> tuple[list, dict, int]:
    """(C lines of ``<prefix>_layout(sizes, gc_off)``, temp name -> table index, the
    table index of the GEMM scratch's offset). It
    returns the workspace's size and, when ``gc_off`` is not NULL, writes each buffer's
    byte offset into ``gc_off``: the table that opens the workspace. (Its names are in
    graphc's reserved ``gc_`` family: no user name can meet them.)"""
    elem_bytes, term_of, terms, where = layout_table(pir)
    n = len(elem_bytes) + (1 if gemm_lines else 0)   # the GEMM scratch is the table's last
    lines = ["/* The workspace: a table of byte offsets (gc_off[b]), then each buffer b of the "
             "memory plan,",
             " * 64-byte aligned: gc_ws_bytes[b] times size term gc_ws_term[b] bytes. */",
             f"static int64_t {pre}_layout(const int64_t* sizes, int64_t* gc_off) {{"]
    lines += sizes_lines(pir)
    lines.append(f"    int64_t ws_total = ({n} * 8 + 63) / 64 * 64;   /* the offset table */")
    if elem_bytes:
        lines += [f"    static const int64_t gc_ws_bytes[{len(elem_bytes)}] = "
                  f"{{{', '.join(map(str, elem_bytes))}}};",
                  f"    static const int32_t gc_ws_term[{len(term_of)}] = "
                  f"{{{', '.join(map(str, term_of))}}};",
                  f"    const int64_t gc_ws_terms[{len(terms)}] = {{{', '.join(terms)}}};",
                  f"    for (int64_t gc_b = 0; gc_b < {len(elem_bytes)}; ++gc_b) {{",
                  "        if (gc_off) gc_off[gc_b] = ws_total;",
                  "        ws_total += (gc_ws_bytes[gc_b] * gc_ws_terms[gc_ws_term[gc_b]] + 63) "
                  "/ 64 * 64;",
                  "    }"]
    if gemm_lines:
        lines += gemm_lines + [f"    if (gc_off) gc_off[{n - 1}] = off_gemm;"]
    else:
        lines.append("    (void)gc_off;")
    lines += ["    return ws_total;", "}", ""]
    return lines, where, len(elem_bytes)


def pointer_lines(pir: ProgramIR, needed: set, where: dict) -> list:
    """Declarations of the pointers (inputs, parameters, constants, results, temps in the
    workspace) named in ``needed``."""
    out = []
    for b in pir.inputs:
        if b.name in needed:
            out.append(f"    const {ctype(b.dtype)}* {b.name} = (const {ctype(b.dtype)}*)"
                       f"inputs[{b.index}];")
    for b in pir.params:
        if b.name in needed:
            out.append(f"    const {ctype(b.dtype)}* {b.name} = (const {ctype(b.dtype)}*)"
                       f"params[{b.index}];")
    for b in pir.consts:
        if b.name in needed:
            out.append(f"    const {ctype(b.dtype)}* {b.name} = {b.name}_host;")
    for b in pir.results:
        if b.name in needed:
            out.append(f"    {ctype(b.dtype)}* {b.name} = ({ctype(b.dtype)}*)results[{b.index}];")
    for t in pir.temps:
        if t.name in needed and t.name in where:
            out.append(f"    {ctype(t.dtype)}* {t.name} = ({ctype(t.dtype)}*)(ws + gc_off[{where[t.name]}]);")
    return out


def render_calls(pir: ProgramIR, kernels: list, plans: dict, d, same_as: dict,
                 where: dict, gemm_at: int) -> list:
    """The body running ``kernels`` in order: their pointers, then one call each (through
    BLAS where planned; a kernel whose code another's repeats calls that one)."""
    needed: set = set()
    for k in kernels:
        needed.update(d.signature(k, pir.buffers)[1])
    out = sizes_lines(pir) if pir.sym_order else []
    out += pointer_lines(pir, needed, where)
    if any(k.name in plans for k in kernels):
        out.append(f"    const int64_t off_gemm = gc_off[{gemm_at}]; (void)off_gemm;")
    for k in kernels:
        if k.name in plans:
            out += c_blas.host_call(k, plans[k.name], pir, d)
            continue
        _, args = d.signature(k, pir.buffers)
        code = same_as.get(k.name, k.name)
        note = f"   /* {k.name} */" if code != k.name else ""
        out.append(f"    {code}({', '.join(args)});{note}")
    return out


def render_host(pir: ProgramIR, d=C, same_as: dict | None = None) -> str:
    """C host: ``<prefix>_workspace_bytes(sizes)`` and ``<prefix>_run(...)`` (and, when
    the dialect ``d`` uses BLAS, ``<prefix>_set_blas``). ``same_as`` maps a kernel to the
    kernel whose function it calls (identical code, ``c_units.distinct_kernels``)."""
    same_as = same_as or {}
    pre = prefix(pir)
    out: list[str] = []
    plans: dict = {}
    gemm_lines: list = []
    if d.blas:
        gemm_lines, plans = c_blas.workspace_lines(pir)
        out = c_blas.host_setter(pre)
        if not plans:
            gemm_lines = []
    layout, where, gemm_at = render_layout(pir, pre, gemm_lines)
    out += layout
    out += [f"/* Host API: see {pir.name}.h. sizes[] holds the run-time dims "
            f"({', '.join(pir.sym_order) or 'none'}). */",
            f"int64_t {pre}_workspace_bytes(const int64_t* sizes) {{",
            f"    return {pre}_layout(sizes, (int64_t*)0);", "}", ""]
    kernels = list(pir.kernels)
    parts = [kernels[j:j + PART_CALLS] for j in range(0, len(kernels), PART_CALLS)]
    head = ["(void* const* inputs, void* const* params, void* const* results,",
            "        const int64_t* sizes, void* workspace) {"]
    frame = ["    char* ws = (char*)workspace; (void)ws;",
             "    const int64_t* gc_off = (const int64_t*)workspace; (void)gc_off;"]
    if len(parts) > 1:
        out += PART_QUALIFIER
        for i, part in enumerate(parts):
            out.append(f"/* kernels {part[0].name} to {part[-1].name} */")
            out.append(f"GC_HOST_PART void {pre}_part{i}{head[0]}")
            out += [head[1]] + frame
            out += render_calls(pir, part, plans, d, same_as, where, gemm_at) + ["}", ""]
    out.append(f"int {pre}_run{head[0]}")
    out.append(head[1])
    out.append(f"    {pre}_layout(sizes, (int64_t*)workspace);")
    if pir.index_sites:
        out.append("    gc_fault_site = -1;")
    if pir.linalg_sites:
        out.append("    gc_linalg_fault = -1;")
    if len(parts) > 1:
        out += [f"    {pre}_part{i}(inputs, params, results, sizes, workspace);"
                for i in range(len(parts))]
    else:
        out += frame + render_calls(pir, kernels, plans, d, same_as, where, gemm_at)
    if pir.linalg_sites:   # a failed factorization: LINALG_FAULT, then <prefix>_linalg_fault
        out.append(f"    if (gc_linalg_fault >= 0) return {c_lapack.LINALG_FAULT};")
    if any(k.kind == "linalg" for k in pir.kernels):
        out = c_lapack.host_functions(pre) + out
    if pir.index_sites:   # an index out of range: GC_INDEX_FAULT, then <prefix>_index_fault
        out += [f"    if (gc_fault_site >= 0) return {INDEX_FAULT};", "    return 0;", "}",
                f"void {pre}_index_fault(int64_t* out) {{ out[0] = gc_fault_site; "
                f"out[1] = gc_fault_index; }}"]
        return "\n".join(out)
    out += ["    return 0;", "}"]
    return "\n".join(out)

