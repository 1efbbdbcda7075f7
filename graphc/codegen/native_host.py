"""Host side shared by the C and CUDA backends: the generated entry points' prefix, the
workspace layout of the memory plan, the run-time size prologue, argument marshalling
(NumPy arrays -> C pointer arrays), the runner that calls a generated ``run`` entry
point and collects outputs and updates, and kernel stats.

>>> import graphc as gc
>>> from graphc.codegen.base import Program
>>> from graphc.codegen.kernel_ir import lower
>>> x = gc.placeholder("x", (None, 4))
>>> pir = lower(Program("f", (x,), (), (gc.exp(x) + 1,)))
>>> prefix(pir), sizes_lines(pir)
('graphc_f', ['    const int64_t n_x0 = sizes[0]; (void)n_x0;'])
"""
from __future__ import annotations

import ctypes
import re
import sys
from typing import Any

import numpy as np

from ..errors import CompileError, EvalError, LinAlgError
from ..passes.memory import Step, Value, plan_memory
from .kernel_types import BufferRef, ProgramIR
from .naming import Scope, sanitize_names

# identifiers the shared host code emits (entry-point arguments, the workspace)
HOST_SCOPE = Scope(frozenset({"inputs", "params", "results", "sizes", "workspace", "ws",
                              "ws_total"}), (r"off_\d+",))


def prefix(pir: ProgramIR) -> str:
    """The prefix of a program's host entry points (``graphc_<name>_run``...)."""
    return "graphc_" + sanitize_names([pir.name])[0]


def memory_plan(pir: ProgramIR):
    """Liveness plan of the temporaries (results and leaves are external)."""
    steps = []
    for k in pir.kernels:
        defines = [Value(b, pir.buffers[b].dtype, plan_dims(pir.buffers[b]))
                   for b in k.buffers_written() if pir.buffers[b].kind == "temp"]
        reads = [b for b in k.buffers_read() if pir.buffers[b].kind == "temp"]
        steps.append(Step(defines, reads))
    return plan_memory(steps)


def plan_dims(buf: BufferRef) -> tuple:
    """A buffer's dims flattened for the memory planner (coefficients and size names)."""
    out = []
    for m in buf.dims:
        out.append(m.coef)
        out.extend(m.syms)
    return tuple(out)


def bytes_expr(buf_dtype: str, dims: tuple) -> str:
    parts = [str(np.dtype(buf_dtype).itemsize)] + [str(x) for x in dims]
    return "(" + "*".join(parts) + ")"


def workspace_layout(pir: ProgramIR) -> tuple[list, dict]:
    """(C lines computing ``off_b`` for each planned buffer, temp name -> buffer index)."""
    plan = memory_plan(pir)
    lines = ["    int64_t ws_total = 0;"]
    for b in plan.buffers:
        lines.append(f"    const int64_t off_{b.index} = ws_total; "
                     f"ws_total += ({bytes_expr(b.dtype, b.dims)} + 63) / 64 * 64;")
    return lines, {t.name: plan.buffer_of[t.name] for t in pir.temps if t.name in plan.buffer_of}


def sizes_lines(pir: ProgramIR) -> list:
    """The host prologue naming each run-time size from the ``sizes`` array."""
    return [f"    const int64_t {s} = sizes[{k}]; (void){s};" for k, s in enumerate(pir.sym_order)]


def explain_compile_error(err: CompileError, source: str, pir: ProgramIR) -> CompileError:
    """``err`` (a compiler's failure on ``source``) with what the user can act on: the
    kernels (or host code) its messages point into and the user names involved there,
    as graph name -> generated identifier."""
    lines = source.splitlines()
    starts: dict[int, Any] = {}   # first source line of each kernel (its header comment)
    for no, line in enumerate(lines, 1):
        for k in pir.kernels:
            if line.startswith(f"/* {k.name}: ") or line.startswith(f"/* {k.name}_epilogue: "):
                starts.setdefault(no, k)
    first_host = max(starts, default=0)
    places, buffers = [], []
    for no in sorted({int(m) for m in re.findall(r"\.(?:c|cu):(\d+)", str(err))}):
        owner = max((s for s in starts if s <= no), default=None)
        k = starts[owner] if owner is not None else None
        if k is not None and owner is not None and not any(ln.startswith("}") for ln in lines[owner - 1:no - 1]):
            places.append(f"kernel {k.name}")
            buffers += k.buffers_read() + k.buffers_written()
        else:
            places.append("host code" if no > first_host else "prelude")
            buffers += [b.name for b in pir.inputs + pir.params]
    user = [(n.name, b.name) for n, b in zip(list(pir.program.inputs) + list(pir.param_nodes),
                                             pir.inputs + pir.params)
            if b.name in set(buffers)]
    where = ", ".join(dict.fromkeys(places)) or "an unknown place"
    names = ", ".join(f"{g!r} -> {c}" for g, c in user) or "none"
    return CompileError(f"generated code for {pir.name!r} does not compile, in {where}; user "
                        f"names there (graph name -> identifier): {names}. This is a graphc "
                        f"bug; please report it with the message below.\n{err}")


def kernel_stats(pir: ProgramIR) -> dict:
    return {"kernels": len(pir.kernels),
            "fused": [{"name": k.name, "kind": k.kind, "ops": list(k.ops)} for k in pir.kernels],
            "temps": len(pir.temps)}


# reuse an unreferenced result array (reference counts as CPython <= 3.13 reports them)
REUSE_RESULTS = sys.implementation.name == "cpython" and sys.version_info < (3, 14)


def c_pointers(arrays) -> ctypes.Array:
    """A C array of the arrays' data pointers (never empty: C has no zero-length arrays)."""
    return (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])


INDEX_FAULT = 3   # ``run``'s code for an index out of range (``<prefix>_index_fault`` says which)
LINALG_FAULT = 4  # ``run``'s code for a failed factorization (``<prefix>_linalg_fault`` says which)


class NativeRunner:
    """Calls a generated ``run`` entry point: allocates results, keeps the workspace."""

    index_fault: Any = None   # the generated ``<prefix>_index_fault(int64_t[2])``, where checked
    linalg_fault: Any = None  # the generated ``<prefix>_linalg_fault()``, where linalg can fail

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
        if rc == INDEX_FAULT and self.index_fault is not None:
            self.raise_index_fault()
        if rc == LINALG_FAULT and self.linalg_fault is not None:
            raise LinAlgError(pir.linalg_sites[int(self.linalg_fault())])
        if rc != 0:
            raise CompileError(f"generated code for {pir.name!r} failed (code {rc})")
        return self.collect(res, inputs, params)

    def raise_index_fault(self):
        """The ``IndexError`` of the first index out of range the last call recorded (the
        op and where it was created, the index), or the ``EvalError`` of a value a
        ``check_index`` refused; nothing of the call is committed."""
        site_and_index = np.zeros(2, dtype=np.int64)
        self.index_fault(site_and_index.ctypes.data)
        site, index = (int(v) for v in site_and_index)
        kind, what = self.pir.index_sites[site] if 0 <= site < len(self.pir.index_sites) \
            else ("index", "a gather or scatter")
        if kind == "value":   # a check_index (cross_entropy's labels computed in the graph)
            raise EvalError(f"{what} holds {index}")
        raise IndexError(f"{what}: index {index} is out of bounds for the axis it indexes")

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
