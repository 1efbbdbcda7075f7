"""backend="c": the fused kernels rendered as C for the CPU (the C dialect of
``c_family``), compiled with the system C compiler (OpenMP when available) into a
shared library; a whole call is ONE ctypes call into a generated host function that
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

import numpy as np

from ..errors import CompileError
from . import c_family
from .c_family import C, _bytes_expr, _plan_dims, memory_plan
from .kernel_ir import ProgramIR, lower
from .naming import sanitize_names


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


def render_host(pir: ProgramIR, d) -> str:
    """C host: ``<prefix>_workspace_bytes(sizes)`` and ``<prefix>_run(...)``."""
    pre = prefix(pir)
    ws_lines, where = workspace_layout(pir)
    out = [f"/* Host API: see {pir.name}.h. sizes[] holds the run-time dims "
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

    def __call__(self, inputs, params, bindings):
        pir = self.pir
        sizes = self.sizes(bindings)
        size_map = dict(zip(pir.sym_order, sizes))
        c_sizes = (ctypes.c_int64 * max(len(sizes), 1))(*sizes)
        ins = [np.ascontiguousarray(a, dtype=b.dtype) for a, b in zip(inputs, pir.inputs)]
        ps = [np.ascontiguousarray(a, dtype=b.dtype) for a, b in zip(params, pir.params)]
        res = [np.empty(self.shape(b, size_map), dtype=b.dtype) for b in pir.results]
        ws = self._ws.get(sizes)
        if ws is None:
            ws = np.empty(max(int(self.workspace_bytes(c_sizes)), 64), dtype=np.uint8)
            self._ws = {sizes: ws}
        ptrs = lambda arrs: (ctypes.c_void_p * max(len(arrs), 1))(
            *[a.ctypes.data for a in arrs])
        rc = self.run(ptrs(ins), ptrs(ps), ptrs(res), c_sizes, ctypes.c_void_p(ws.ctypes.data))
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


def build(program, **options) -> CExecutable:
    """Lower, render and compile ``program`` for the CPU."""
    from . import toolchain
    toolchain.require("c")
    pir = lower(program)
    source = c_family.render(pir, C)
    lib = toolchain.compile_and_load(source, "c", name=sanitize_names([program.name])[0])
    pre = prefix(pir)
    run = getattr(lib, f"{pre}_run")
    run.restype = ctypes.c_int
    run.argtypes = [ctypes.c_void_p] * 5
    wsb = getattr(lib, f"{pre}_workspace_bytes")
    wsb.restype = ctypes.c_int64
    wsb.argtypes = [ctypes.c_void_p]
    return CExecutable(program, pir, source, NativeRunner(pir, run, wsb))
