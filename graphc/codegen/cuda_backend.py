"""backend="cuda": the fused kernels rendered as CUDA C (``cuda_dialect``) with a generated C++
host function that runs the whole compiled function:
inputs uploaded, parameters kept resident on the device between calls (re-uploaded
only when the caller passes a different array), every kernel launched in order and
checked (errors name the kernel), updates applied on the device, results downloaded.

``device="emulate"`` compiles the SAME .cu text with the host C++ compiler and
``graphc_cuda_emu.h`` (CUDA semantics on the CPU); without nvcc or a GPU the default
device raises ``BackendUnavailable`` naming what is missing.

>>> import numpy as np, graphc as gc
>>> from graphc.codegen.base import Program
>>> x = gc.placeholder("x", (3,))
>>> exe = build(Program("f", (x,), (), (gc.exp(x) * 2,)), device="emulate")
>>> exe([np.zeros(3, np.float32)], [], {})[0][0]
array([2., 2., 2.], dtype=float32)
"""
from __future__ import annotations

import ctypes


from ..errors import CompileError, GraphcError
from . import native_export, native_loops, toolchain
from .c_family import ctype, is_column_reduction
from .cuda_dialect import CUDA
from .kernel_ir import lower
from .kernel_types import BufferRef, KernelIR, ProgramIR
from .naming import Scope, sanitize_names
from .native_host import (HOST_SCOPE, INDEX_FAULT, NativeRunner, c_pointers, explain_compile_error,
                          kernel_stats, prefix, sizes_lines, workspace_layout)

# identifiers the CUDA host code emits beyond the shared ones (gc_* are reserved anyway)
CUDA_HOST_SCOPE = HOST_SCOPE | Scope(frozenset({
    "param_dirty", "d_inputs", "d_params", "d_results", "d_workspace", "nbytes", "fresh", "k"}))


def _bytes(buf: BufferRef) -> str:
    return f"((size_t){buf.size().c()} * sizeof({ctype(buf.dtype)}))"


def _launch(k: KernelIR, args: list, d) -> list:
    """Grid/block of one kernel (computed on the host from the run-time sizes)."""
    dims = [m.c() for m in k.dims]
    if k.kind in ("elementwise", "scatter") or (k.kind == "lines" and k.line["op"] == "argsort"):
        total = "*".join(f"(int64_t)({x})" for x in dims) or "1"
        grid, block = f"gc_blocks({total}, {d.block_threads})", str(d.block_threads)
    elif k.kind == "lines":                        # a scan: one thread per line
        lines = "*".join(f"(int64_t)({x})" for a, x in enumerate(dims)
                         if a != k.line["axis"]) or "1"
        grid, block = f"gc_blocks({lines}, {d.block_threads})", str(d.block_threads)
    elif k.kind == "linalg":                       # one thread per matrix
        total = "*".join(f"(int64_t)({x})" for x in dims) or "1"
        grid, block = f"gc_blocks({total}, 64)", "64"
    elif k.kind == "reduce":
        outer = [dims[a] for a in range(len(dims)) if a not in k.reduce_axes]
        red = [dims[a] for a in k.reduce_axes]
        O = "*".join(f"(int64_t)({x})" for x in outer) or "1"
        R = "*".join(f"(int64_t)({x})" for x in red) or "1"
        if is_column_reduction(k):                 # one thread per column
            grid, block = f"gc_blocks({O}, {d.block_threads})", str(d.block_threads)
        else:                                      # one block per row
            grid, block = f"gc_rows({O})", f"gc_row_threads({R})"
    else:
        batch, m_ax, n_ax, _ = k.mm_axes
        M = dims[m_ax] if m_ax is not None else "1"
        N = dims[n_ax] if n_ax is not None else "1"
        B = "*".join(f"(int64_t)({dims[a]})" for a in batch) or "1"
        grid = f"dim3(gc_tiles({N}), gc_tiles({M}), gc_tiles_z({B}))"
        block = "256"
    return [f"    GC_LAUNCH({k.name}, {grid}, {block}, 0, {', '.join(args)});",
            f"    GC_CHECK_LAUNCH({k.name});"]


HOST_HELPERS = """\
static unsigned gc_blocks(int64_t n, int threads) {
    int64_t b = (n + threads - 1) / threads;
    if (b > 65535 * 32) b = 65535 * 32;   /* grid-stride loops cover the rest */
    return b < 1 ? 1u : (unsigned)b;
}
static unsigned gc_tiles(int64_t n) { return n < 1 ? 1u : (unsigned)((n + 63) / 64); }
static unsigned gc_tiles_z(int64_t n) { return n < 1 ? 1u : (unsigned)n; }
static unsigned gc_rows(int64_t rows) { return rows < 1 ? 1u : rows > 65535 ? 65535u : (unsigned)rows; }
static unsigned gc_row_threads(int64_t r) { return r <= 32 ? 32u : r <= 128 ? 128u : 256u; }
static int gc_ensure(void** p, size_t* cap, size_t bytes) {
    if (*p != NULL && *cap >= bytes) return 0;
    if (*p != NULL) { GC_CHECK(gcFree(*p)); *p = NULL; *cap = 0; }
    GC_CHECK(gcMalloc(p, bytes ? bytes : 1));
    *cap = bytes;
    return 1;
}
"""


def render_host(pir: ProgramIR, d=CUDA) -> str:
    """CUDA host: workspace size, ``run`` (host pointers, resident parameters),
    ``run_device`` (device pointers) and ``release``."""
    pre = prefix(pir)
    ws_lines, where = workspace_layout(pir)
    NI, NP, NR, NC = (max(len(x), 1) for x in (pir.inputs, pir.params, pir.results, pir.consts))
    out = [HOST_HELPERS,
           "/* device state: parameters and constants stay resident between calls */",
           f"static void* gc_in[{NI}]; static size_t gc_in_cap[{NI}];",
           f"static void* gc_par[{NP}]; static size_t gc_par_cap[{NP}];",
           f"static void* gc_res[{NR}]; static size_t gc_res_cap[{NR}];",
           f"static void* gc_con[{NC}]; static size_t gc_con_cap[{NC}];",
           "static void* gc_ws; static size_t gc_ws_cap;", "",
           f"GC_EXPORT int64_t {pre}_workspace_bytes(const int64_t* sizes) {{"]
    out += sizes_lines(pir) + ws_lines + ["    return ws_total;", "}", ""]
    out += ["/* One call: inputs/params/results are HOST pointers; param_dirty[k] != 0 uploads",
            " * parameter k (else the device copy from the previous call is used). */",
            f"GC_EXPORT int {pre}_run(void* const* inputs, void* const* params, "
            "const int* param_dirty,",
            "        void* const* results, const int64_t* sizes) {"]
    out += sizes_lines(pir) + ws_lines
    dev = [f"/* The kernels alone, on DEVICE pointers (workspace: {pre}_workspace_bytes). */",
           f"GC_EXPORT int {pre}_run_device(void* const* d_inputs, void* const* d_params, "
           "void* const* d_results,",
           "        const int64_t* sizes, void* d_workspace) {"]
    dev += sizes_lines(pir) + ws_lines + ["    (void)ws_total;"]
    for b in pir.consts:
        dev.append(f"    {{ const size_t nbytes = sizeof({b.name}_host); const int fresh = "
                   f"gc_ensure(&gc_con[{b.index}], &gc_con_cap[{b.index}], nbytes); "
                   "if (fresh < 0) return -1;")
        dev.append(f"      if (fresh) GC_CHECK(gcMemcpyHtoD(gc_con[{b.index}], {b.name}_host, "
                   "nbytes)); }")
    dev.append("    char* ws = (char*)d_workspace; (void)ws;")
    if pir.index_sites:   # the device's index-fault flag, cleared for this call
        dev.append("    { const int gc_zero = 0; GC_CHECK(gcMemcpyToSymbol(gc_fault_flag_, "
                   "&gc_zero, sizeof gc_zero)); }")
    for group, arr in ((pir.inputs, "d_inputs"), (pir.params, "d_params"),
                       (pir.consts, "gc_con"), (pir.results, "d_results")):
        for b in group:
            q = "" if arr == "d_results" else "const "
            t = ctype(b.dtype)
            dev.append(f"    {q}{t}* {b.name} = ({q}{t}*){arr}[{b.index}];")
    for t in pir.temps:
        if t.name in where:
            dev.append(f"    {ctype(t.dtype)}* {t.name} = ({ctype(t.dtype)}*)(ws + off_{where[t.name]});")
    for k in pir.kernels:
        _, args = d.signature(k, pir.buffers)
        if k.zero_fill:   # a scatter combines into its identity: zeros, ones or +-inf
            buf = pir.buffers[k.zero_fill[0]]
            fill = k.zero_fill[2]
            if fill.value == 0:
                dev.append(f"    GC_CHECK(gcMemset({buf.name}, 0, {_bytes(buf)}));")
            else:
                size = f"(int64_t)({buf.size().c()})"
                dev += [f"    GC_LAUNCH(gc_fill<{ctype(buf.dtype)}>, gc_blocks({size}, "
                        f"{d.block_threads}), {d.block_threads}, 0, {buf.name}, {size}, "
                        f"{d.operand(fill)});", "    GC_CHECK_LAUNCH(gc_fill);"]
        dev += _launch(k, args, d)
    dev.append("    GC_CHECK(gcDeviceSynchronize());")
    if pir.index_sites:   # an index out of range: GC_INDEX_FAULT, <prefix>_index_fault says which
        dev += ["    { int gc_flag = 0; GC_CHECK(gcMemcpyFromSymbol(&gc_flag, gc_fault_flag_, "
                "sizeof gc_flag));",
                f'      if (gc_flag) {{ gc_record_error("index out of range", "an index read '
                f'from data is outside the axis it indexes ({pre}_index_fault says which)"); '
                "return GC_INDEX_FAULT; } }"]
    dev += ["    return 0;", "}", ""]
    if pir.index_sites:
        dev += [f"GC_EXPORT void {pre}_index_fault(int64_t* out) {{",
                "    long long rec[2] = {-1, 0};",
                "    if (gcMemcpyFromSymbol(rec, gc_fault_record_, sizeof rec) != gcSuccess) "
                "rec[0] = -1;",
                "    out[0] = (int64_t)rec[0]; out[1] = (int64_t)rec[1];", "}", ""]
    run_at = out.index("/* One call: inputs/params/results are HOST pointers; param_dirty[k] != 0 uploads")
    out[run_at:run_at] = dev
    for b in pir.inputs:
        out.append(f"    {{ const size_t nbytes = {_bytes(b)}; if (gc_ensure(&gc_in[{b.index}], "
                   f"&gc_in_cap[{b.index}], nbytes) < 0) return -1;")
        out.append(f"      GC_CHECK(gcMemcpyHtoD(gc_in[{b.index}], inputs[{b.index}], nbytes)); }}")
    for b in pir.params:
        out.append(f"    {{ const size_t nbytes = {_bytes(b)}; const int fresh = gc_ensure("
                   f"&gc_par[{b.index}], &gc_par_cap[{b.index}], nbytes); if (fresh < 0) return -1;")
        out.append(f"      if (fresh || param_dirty[{b.index}]) "
                   f"GC_CHECK(gcMemcpyHtoD(gc_par[{b.index}], params[{b.index}], nbytes)); }}")
    for b in pir.results:
        out.append(f"    if (gc_ensure(&gc_res[{b.index}], &gc_res_cap[{b.index}], {_bytes(b)}) < 0) "
                   "return -1;")
    out.append("    if (gc_ensure(&gc_ws, &gc_ws_cap, (size_t)ws_total) < 0) return -1;")
    # a failed call (-1, or GC_INDEX_FAULT) returns before any result is downloaded or
    # any update becomes a resident parameter: the parameters are unchanged
    out.append(f"    {{ const int gc_rc = {pre}_run_device(gc_in, gc_par, gc_res, sizes, gc_ws); "
               "if (gc_rc != 0) return gc_rc; }")
    for b in pir.results:
        out.append(f"    GC_CHECK(gcMemcpyDtoH(results[{b.index}], gc_res[{b.index}], {_bytes(b)}));")
    # updates: the new values become the resident parameters (after every kernel ran)
    for p, r in update_links(pir):
        out.append(f"    GC_CHECK(gcMemcpyDtoD(gc_par[{p}], gc_res[{r}], "
                   f"{_bytes(pir.params[p])}));")
    out += ["    return 0;", "}", "",
            f"GC_EXPORT void {pre}_release(void) {{",
            f"    for (int k = 0; k < {NI}; ++k) if (gc_in[k]) {{ "
            f"gcFree(gc_in[k]); gc_in[k] = NULL; gc_in_cap[k] = 0; }}",
            f"    for (int k = 0; k < {NP}; ++k) if (gc_par[k]) {{ "
            f"gcFree(gc_par[k]); gc_par[k] = NULL; gc_par_cap[k] = 0; }}",
            f"    for (int k = 0; k < {NR}; ++k) if (gc_res[k]) {{ "
            f"gcFree(gc_res[k]); gc_res[k] = NULL; gc_res_cap[k] = 0; }}",
            f"    for (int k = 0; k < {NC}; ++k) if (gc_con[k]) {{ "
            f"gcFree(gc_con[k]); gc_con[k] = NULL; gc_con_cap[k] = 0; }}",
            "    if (gc_ws) { gcFree(gc_ws); gc_ws = NULL; gc_ws_cap = 0; }",
            "}"]
    return "\n".join(out)


def update_links(pir: ProgramIR) -> list:
    """(param index, result index) for updates computed by a kernel."""
    prog = pir.program
    n_out = len(prog.outputs)
    links = []
    for p_node, (kind, r) in zip(prog.update_params, pir.root_sources[n_out:]):
        if kind != "result":
            continue
        for k, q in enumerate(prog.params):
            if q is p_node:
                links.append((k, r))
    return links


def render_header(pir: ProgramIR) -> str:
    pre = prefix(pir)
    guard = pre.upper() + "_CUDA_H"
    return "\n".join([
        f"/* {pir.name}: host API of the graphc-generated CUDA library. */",
        f"#ifndef {guard}", f"#define {guard}", "#include <stdint.h>",
        "#ifdef __cplusplus", 'extern "C" {', "#endif",
        "/* inputs:  " + ", ".join(f"{b.name} {b.dtype}[{'x'.join(m.c() for m in b.dims)}]"
                                   for b in pir.inputs),
        " * params:  " + ", ".join(f"{b.name} {b.dtype}[{'x'.join(m.c() for m in b.dims)}]"
                                   for b in pir.params),
        " * results: " + ", ".join(f"{b.name} {b.dtype}[{'x'.join(m.c() for m in b.dims)}]"
                                   for b in pir.results),
        f" * sizes:   {', '.join(pir.sym_order) or '(none)'}",
        " * All pointers are host pointers; returns 0, or -1 with gc_last_error() set. */",
        f"int64_t {pre}_workspace_bytes(const int64_t* sizes);",
        f"int {pre}_run(void* const* inputs, void* const* params, const int* param_dirty,",
        "        void* const* results, const int64_t* sizes);",
        f"int {pre}_run_device(void* const* d_inputs, void* const* d_params, "
        "void* const* d_results,",
        "        const int64_t* sizes, void* d_workspace);",
        f"void {pre}_release(void);",
        "const char* gc_last_error(void);",
        "#ifdef __cplusplus", "}", "#endif", "#endif", ""])


class CudaRunner(NativeRunner):
    """Runs the generated host function; tracks which parameters are resident."""

    def __init__(self, pir, run, lib):
        super().__init__(pir, run, None)
        self.lib = lib
        self._resident: list = [None] * len(pir.params)

    def __call__(self, inputs, params, bindings):
        pir = self.pir
        _, c_sizes, ins, params, ps, res = self.marshal(inputs, params, bindings)
        # parameters whose device copy is stale (1) must be uploaded before the run
        dirty = [0 if self._resident[k] is params[k] else 1 for k in range(len(params))]
        c_dirty = (ctypes.c_int * max(len(dirty), 1))(*dirty)
        self.lib.gc_clear_error()
        rc = self.run(c_pointers(ins), c_pointers(ps), c_dirty, c_pointers(res), c_sizes)
        if rc == INDEX_FAULT and self.index_fault is not None:
            # nothing was committed on the device; uploads of this call may be resident
            self._resident = [None] * len(pir.params)
            self.raise_index_fault()
        if rc != 0:
            self._resident = [None] * len(pir.params)
            msg = self.lib.gc_last_error().decode(errors="replace")
            raise GraphcError(f"CUDA error in compiled function {pir.name!r}: {msg}")
        outs, new = self.collect(res, inputs, params)
        self._resident = list(params)
        linked = dict(update_links(pir))
        n_out = len(pir.program.outputs)
        for j, p_node in enumerate(pir.program.update_params):
            for k, q in enumerate(pir.program.params):
                if q is p_node:
                    kind, _ = pir.root_sources[n_out + j]
                    self._resident[k] = new[j] if (kind == "result" and k in linked) else None
        return outs, new


class CudaExecutable:
    def __init__(self, program, pir, source: str, runner: CudaRunner, device: str):
        self.program, self.pir, self.device = program, pir, device
        self.source = {f"{pir.name}.cu": source}
        self.runner = runner
        runner.n_updates = len(program.updates)
        self.stats = {**kernel_stats(pir), "device": device}

    def __call__(self, inputs, params, bindings):
        return self.runner(inputs, params, bindings)

    def export(self, directory: str, name: str | None = None, sizes: dict | None = None,
               inputs: list | None = None) -> list:
        """Write the CUDA folder; ``sizes``/``inputs`` fix the example program's data."""
        return native_export.export_cuda(
            self, directory, name or self.pir.name, header=render_header(self.pir),
            entry_prefix=prefix(self.pir),
            headers=[toolchain.include_dir() / h for h in toolchain.HEADERS],
            sizes=sizes, inputs=inputs)


def render_source(program) -> tuple[ProgramIR, str]:
    """(kernel IR, the .cu translation unit) of ``program``; nothing is compiled."""
    pir = lower(program, reserved=CUDA.scope() | CUDA_HOST_SCOPE)
    return pir, CUDA.render(pir, render_host(pir))


def build(program, **options) -> "CudaExecutable | native_loops.StagedExecutable":
    """Lower, render and compile ``program`` with nvcc (GPU) or the emulation header."""
    options = {**program.options, **options}
    device = options.get("device") or "gpu"
    if device not in ("gpu", "emulate"):
        raise GraphcError(f"backend='cuda': unknown device {device!r}; use 'gpu' (default) "
                          "or 'emulate' (the same CUDA code run on the CPU)")
    lang: toolchain.Lang = "cuda-emulate" if device == "emulate" else "cuda"
    toolchain.require(lang)
    if native_loops.has_loops(program):   # loops: staged programs (codegen/native_loops)
        return native_loops.build_staged(program, build, {"device": device}, "cuda")
    pir, source = render_source(program)
    try:
        lib = toolchain.compile_and_load(source, lang, name=sanitize_names([program.name])[0])
    except CompileError as err:
        raise explain_compile_error(err, source, pir) from err
    pre = prefix(pir)
    run = getattr(lib, f"{pre}_run")
    run.restype = ctypes.c_int
    run.argtypes = [ctypes.c_void_p] * 5
    lib.gc_last_error.restype = ctypes.c_char_p
    lib.gc_clear_error.restype = None
    runner = CudaRunner(pir, run, lib)
    if pir.index_sites:
        runner.index_fault = getattr(lib, f"{pre}_index_fault")
        runner.index_fault.restype = None
        runner.index_fault.argtypes = [ctypes.c_void_p]
    return CudaExecutable(program, pir, source, runner, device)
