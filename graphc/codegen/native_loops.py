"""Loops and branches on the native backends (c, cuda and its emulation): staged programs.

The fused-kernel schedule has no loop kernel, so a graph with loops is cut at them: each
group of loop nodes (the results of one loop) becomes a stage. Before a loop, a native
program computes the loop's operands from the inputs, the parameters and the results of
earlier loops; the loop runs with its body compiled by the same backend as its own
program (optimized by the pass pipeline, nested loops staged again); a last program
computes the outputs and parameter updates. A scan on the C backend runs its steps in a
small C driver (``_DRIVER``: one ctypes call for the whole loop, the body's entry point
called from C with pointers offset into the xs/ys buffers); other loops and branches (and
every loop on CUDA) call the body's compiled program once per step from Python.

>>> import numpy as np, graphc as gc
>>> x = gc.placeholder("x", (4,))
>>> total, _ = gc.scan(lambda c, v: (c * v, None), gc.constant(1.0), x)
>>> float(gc.compile(total, backend="c")(np.array([1., 2., 3., 4.], np.float32)))
24.0
"""
from __future__ import annotations

import ctypes

import numpy as np

from ..bind import bind, built_at, ops_where
from ..control.primitives import branch_index, group_key, pruned_scan, run_scan, \
    run_while, scan_counts, scan_length
from ..errors import CompileError
from ..ir import Tensor, fresh_uid, resolve_dims, topo_order
from ..passes.pipeline import run_pipeline
from ..subgraph import Body
from . import toolchain
from .base import Program
from .native_host import c_pointers

def _is_loop(n: Tensor) -> bool:
    return n.op in ops_where(kind="loop")


def has_loops(program: Program) -> bool:
    return any(_is_loop(n) for n in topo_order(program.roots))


def _placeholder(like: Tensor, name: str) -> Tensor:
    return Tensor.make("placeholder", (), {"name": name, "uid": fresh_uid()}, like.dims,
                       like.dtype, location=like.location)


class _Substitution:
    """The graph with each loop result replaced by a placeholder (memoized rebuild)."""

    def __init__(self, mapping: dict):
        self.new = dict(mapping)

    def __call__(self, node: Tensor) -> Tensor:
        if id(node) in self.new:
            return self.new[id(node)]
        for n in topo_order([node]):
            if id(n) in self.new:
                continue
            ins = [self.new.get(id(i), i) for i in n.inputs]
            if all(a is b for a, b in zip(ins, n.inputs)):
                self.new[id(n)] = n
            else:
                with built_at(n.location):
                    self.new[id(n)] = bind(n.op, *ins, **dict(n.attrs))
        return self.new[id(node)]


class _Part:
    """A loop-free native program over some of the values known so far."""

    def __init__(self, name: str, outputs: list, build, options, update_params=(), updates=()):
        self.outputs = list(outputs)
        roots = [o for o in self.outputs + list(updates)]
        order = topo_order(roots)
        self.inputs = [n for n in order if n.op == "placeholder"]
        self.params = [n for n in order if n.op == "parameter"]
        self.exe = build(Program(name=name, inputs=tuple(self.inputs), params=tuple(self.params),
                                 outputs=tuple(self.outputs), update_params=tuple(update_params),
                                 updates=tuple(updates),
                                 options={"output_structure": "list"}), **options)

    def __call__(self, env: dict, bindings: dict):
        return self.exe([env[id(p)] for p in self.inputs], [env[id(p)] for p in self.params],
                        bindings)


class CompiledBody:
    """One body compiled by the backend as its own (staged, if nested) program."""

    def __init__(self, body: Body, build, options, name: str):
        self.body = body
        outs = run_pipeline(list(body.outputs)).outputs
        self.exe = build(Program(name=name, inputs=body.inputs, params=(), outputs=tuple(outs),
                                 options={"output_structure": "list"}), **options)

    def bindings(self, arrays) -> dict:
        found: dict = {}
        for p, a in zip(self.body.inputs, arrays):
            for d, s in zip(p.dims, np.shape(a)):
                if isinstance(d, str):
                    found.setdefault(d, int(s))
        return found

    def stepper(self):
        state: dict = {}

        def run(body, outputs, args):
            if not state:
                state["b"] = self.bindings(args)
            return self.exe(list(args), [], state["b"])[0]
        return run


class LoopStage:
    """Runs one loop group: operands in, the group's results out."""

    def __init__(self, node: Tensor, needed: set, build, options, name: str, backend: str):
        self.op, self.attrs, self.needed = node.op, dict(node.attrs), needed
        self.driver = None
        if self.op == "scan":   # per-step outputs no node reads are not computed
            self.scan_body, self.expand = pruned_scan(self.attrs["body"], needed)
            self.body = CompiledBody(self.scan_body, build, options, f"{name}_body")
            runner = getattr(self.body.exe, "runner", None)
            if backend == "c" and runner is not None and _driver() is not None:
                self.driver = runner
        elif self.op == "while_loop":
            self.cond = CompiledBody(self.attrs["cond"], build, options, f"{name}_cond")
            self.body = CompiledBody(self.attrs["body"], build, options, f"{name}_body")
        else:
            self.branches = [CompiledBody(b, build, options, f"{name}_branch{k}")
                             for k, b in enumerate(self.attrs["branches"])]

    def sources(self) -> dict:
        parts = [self.body] if self.op == "scan" else (
            [self.cond, self.body] if self.op == "while_loop" else self.branches)
        out = {}
        for p in parts:
            out.update(p.exe.source)
        return out

    def __call__(self, arrays: list) -> list:
        a = self.attrs
        if self.op == "scan":
            nc, _, _, ny = scan_counts(a["body"])
            save = any(nc + ny <= o < 2 * nc + ny for o in self.needed)
            if self.driver is not None:
                return self.expand(_drive_scan(self.driver, self.body,
                                               {**a, "body": self.scan_body}, arrays, save))
            return self.expand(run_scan(self.scan_body, arrays, a["length"], a["reverse"],
                                        run=self.body.stepper(), save=save))
        if self.op == "while_loop":
            cs, bs = self.cond.stepper(), self.body.stepper()
            return run_while(a["cond"], a["body"], arrays,
                             run=lambda b, o, x: (cs if b is a["cond"] else bs)(b, o, x))
        chosen = self.branches[branch_index(arrays[0], len(self.branches))]
        return list(chosen.stepper()(None, None, arrays[1:]))


class StagedExecutable:
    """A native executable for a graph with loops: programs and loops run in turn."""

    def __init__(self, program: Program, build, options: dict, backend: str):
        self.program = program
        order = topo_order(program.roots)
        groups: dict = {}
        for n in order:
            if _is_loop(n):
                groups.setdefault(group_key(n), []).append(n)
        mapping: dict = {}
        self.stages: list = []
        sub = _Substitution(mapping)
        for k, members in enumerate(groups.values()):
            rep = members[0]
            operands = [sub(i) for i in rep.inputs]
            computed = [o for o in operands if o.inputs]
            part = _Part(f"{program.name}_stage{k}", computed, build, options) \
                if computed else None
            stage = LoopStage(rep, {m.attr("output") for m in members}, build, options,
                              f"{program.name}_loop{k}", backend)
            phs = []
            for m in members:
                ph = _placeholder(m, f"loop{k}_out{m.attr('output')}")
                sub.new[id(m)] = ph
                phs.append((m.attr("output"), ph))
            self.stages.append((operands, computed, part, stage, phs))
        outs = [sub(o) for o in program.outputs]
        ups = [sub(u) for u in program.updates]
        self.final = _Part(program.name, outs, build, options, program.update_params, ups)
        self.pir = getattr(self.final.exe, "pir", None)   # the last program's kernel IR
        self.source, self.stats = {}, {"backend": backend, "loops": len(self.stages)}
        for _, _, part, stage, _ in self.stages:
            if part is not None:
                self.source.update(part.exe.source)
            self.source.update(stage.sources())
        self.source.update(self.final.exe.source)
        self.stats["kernels"] = sum(getattr(p.exe, "stats", {}).get("kernels", 0)
                                    for p in [s[2] for s in self.stages if s[2]] + [self.final])

    def __call__(self, inputs, params, bindings):
        env = {id(p): a for p, a in zip(self.program.inputs, inputs)}
        env.update({id(p): a for p, a in zip(self.program.params, params)})
        for operands, computed, part, stage, phs in self.stages:
            values = dict(zip(map(id, computed), part(env, bindings)[0])) if part else {}
            arrays = []
            for o in operands:
                if id(o) in values:
                    arrays.append(values[id(o)])
                elif o.op == "constant":
                    arrays.append(o.attr("value").array)
                else:
                    arrays.append(env[id(o)])
            results = stage(arrays)
            for out, ph in phs:
                env[id(ph)] = results[out]
        for p in self.final.params:
            env.setdefault(id(p), p.value)
        return self.final(env, bindings)

    def export(self, directory: str, name: str | None = None, **_) -> list:
        raise CompileError("export: graphs with loops or branches cannot be exported by the "
                           "native backends yet (they run as staged programs)")


def build_staged(program: Program, build, options: dict, backend: str) -> StagedExecutable:
    return StagedExecutable(program, build, options, backend)


# ---- the C scan driver ------------------------------------------------------------------

_DRIVER_SOURCE = r"""
#include <stdint.h>
#include <string.h>
typedef int (*gc_body_run)(void* const*, void* const*, void* const*, const int64_t*, void*);

/* Runs a scan: steps calls of the body's entry point. in[] holds, per body input, its
   base pointer and in_stride[] its per-step byte offset (xs) or 0 (carries, constants);
   carries live in two buffers per carry (cur/next, swapped each step). Per body result
   buffer r, res_stride[r] >= 0: the slice of a stacked output; res_stride[r] == -1: the
   next-carry buffer of carry res_carry[r]. Carries that are copies of an input or of another
   result are copied after the step (copy_src/dst/bytes). Saved carries (if save) are
   copied into saved[j] + t * carry_bytes[j] before the step. */
int gc_scan_driver(gc_body_run run, int64_t steps, int reverse,
                   int n_in, void** in_base, const int64_t* in_stride,
                   int n_carry, void** cur, void** next, const int64_t* carry_bytes,
                   const int* carry_in_slot,
                   int n_res, void** res_base, const int64_t* res_stride, const int* res_carry,
                   int n_copy, const int* copy_kind, void* const* copy_ptr,
                   const int* copy_src, const int* copy_dst,
                   const int64_t* copy_bytes, const int64_t* copy_stride,
                   void** out_base,
                   void** saved, int save,
                   void* const* params, const int64_t* sizes, void* workspace) {
    void* in_ptr[256]; void* res_ptr[256];
    if (n_in > 256 || n_res > 256) return 7;
    for (int64_t step = 0; step < steps; ++step) {
        int64_t t = reverse ? steps - 1 - step : step;
        for (int j = 0; j < n_carry; ++j) {
            in_base[carry_in_slot[j]] = cur[j];
            if (save) memcpy((char*)saved[j] + t * carry_bytes[j], cur[j], carry_bytes[j]);
        }
        for (int i = 0; i < n_in; ++i) in_ptr[i] = (char*)in_base[i] + t * in_stride[i];
        for (int r = 0; r < n_res; ++r)
            res_ptr[r] = res_stride[r] < 0 ? next[res_carry[r]]
                                            : (char*)res_base[r] + t * res_stride[r];
        int rc = run(in_ptr, params, res_ptr, sizes, workspace);
        if (rc) return rc;
        for (int c = 0; c < n_copy; ++c) {  /* outputs that are inputs or repeated results */
            const char* src = copy_kind[c] == 0 ? (const char*)in_ptr[copy_src[c]]
                            : copy_kind[c] == 1 ? (const char*)res_ptr[copy_src[c]]
                                                : (const char*)copy_ptr[c];
            char* dst = copy_dst[c] < 0 ? (char*)next[-1 - copy_dst[c]]
                                        : (char*)out_base[copy_dst[c]] + t * copy_stride[c];
            memcpy(dst, src, copy_bytes[c]);
        }
        for (int j = 0; j < n_carry; ++j) { void* s = cur[j]; cur[j] = next[j]; next[j] = s; }
    }
    return 0;
}
"""

_DRIVER_LIB: list = []


def _driver():
    """The compiled driver's entry point (None if no C compiler is usable)."""
    if not _DRIVER_LIB:
        try:
            toolchain.require("c")
            lib = toolchain.compile_and_load(_DRIVER_SOURCE, "c", name="graphc_scan_driver")
            fn = lib.gc_scan_driver
            fn.restype = ctypes.c_int
            _DRIVER_LIB.append((lib, fn))
        except Exception:   # no compiler: steps are called from Python instead
            _DRIVER_LIB.append((None, None))
    return _DRIVER_LIB[0][1]


def _arr(ctype, values):
    values = list(values)
    return (ctype * max(len(values), 1))(*values)


def _drive_scan(runner, compiled: CompiledBody, attrs: dict, arrays: list, save: bool) -> list:
    """A scan's steps in C (``gc_scan_driver``) calling the body's generated ``run``."""
    body, reverse = attrs["body"], attrs["reverse"]
    nc, nx, nk, ny = scan_counts(body)
    pir = runner.pir
    ins = [np.asarray(a, dtype=p.dtype, order="C") for a, p in zip(arrays, body.inputs)]
    carry0, xs, consts = ins[:nc], ins[nc:nc + nx], ins[nc + nx:]
    steps = scan_length(attrs["length"], xs)
    if steps == 0:
        return run_scan(body, arrays, attrs["length"], reverse, run=compiled.stepper(),
                        save=save)
    bindings = compiled.bindings(carry0 + [x[0] for x in xs] + consts)
    sizes = runner.sizes(bindings)
    c_sizes = _arr(ctypes.c_int64, sizes)
    cur = [c.copy() for c in carry0]
    nxt = [np.empty_like(c) for c in carry0]
    carry_bytes = [c.nbytes for c in carry0]
    ys = [np.empty((steps, *resolve_dims(o.dims, bindings)), o.dtype)
          for o in body.outputs[nc:]]
    in_base = [c.ctypes.data for c in cur] + [x.ctypes.data for x in xs] + \
        [k.ctypes.data for k in consts]
    in_stride = [0] * nc + [x.strides[0] for x in xs] + [0] * nk
    # where each body output goes: a result buffer run writes in place (the next carry,
    # or step t's slice of a stacked output), or a copy after the step
    n_res = len(pir.results)
    res_base, res_stride, res_carry = [0] * n_res, [0] * n_res, [0] * n_res
    assigned = [False] * n_res
    copies = []   # (kind: 0 input slot / 1 result / 2 address, source, destination, bytes, stride)
    keep = []
    params = runner.all_params([])
    for out, (kind, k) in enumerate(pir.root_sources):
        dst = -1 - out if out < nc else out - nc
        nbytes = carry_bytes[out] if out < nc else ys[out - nc][0].nbytes
        stride = 0 if out < nc else ys[out - nc].strides[0]
        if kind == "result" and not assigned[k]:
            assigned[k] = True
            if out < nc:
                res_stride[k], res_carry[k] = -1, out
            else:
                res_base[k], res_stride[k] = ys[out - nc].ctypes.data, stride
        elif kind in ("result", "input"):
            copies.append((1 if kind == "result" else 0, k, dst, nbytes, stride))
        else:   # a constant (or parameter) value
            value = np.ascontiguousarray(k.value if kind == "value" else params[k],
                                         dtype=body.outputs[out].dtype)
            keep.append(value)
            copies.append((2, value.ctypes.data, dst, nbytes, stride))
    if not all(assigned):
        raise CompileError(f"scan body {pir.name!r}: a result buffer no output reads")
    saved = [np.empty((steps, *c.shape), c.dtype) for c in carry0] if save else []
    ps = [np.ascontiguousarray(a, dtype=b.dtype) for a, b in zip(params, pir.params)]
    ws = runner._ws.get(sizes)
    if ws is None:
        ws = np.empty(max(int(runner.workspace_bytes(c_sizes)), 64), dtype=np.uint8)
        runner._ws = {sizes: ws}
    cur_arr = _arr(ctypes.c_void_p, [c.ctypes.data for c in cur])
    rc = _driver()(
        ctypes.cast(runner.run, ctypes.c_void_p), ctypes.c_int64(steps),
        ctypes.c_int(1 if reverse else 0),
        ctypes.c_int(len(in_base)), _arr(ctypes.c_void_p, in_base),
        _arr(ctypes.c_int64, in_stride),
        ctypes.c_int(nc), cur_arr, _arr(ctypes.c_void_p, [c.ctypes.data for c in nxt]),
        _arr(ctypes.c_int64, carry_bytes), _arr(ctypes.c_int, range(nc)),
        ctypes.c_int(n_res), _arr(ctypes.c_void_p, res_base), _arr(ctypes.c_int64, res_stride),
        _arr(ctypes.c_int, res_carry),
        ctypes.c_int(len(copies)), _arr(ctypes.c_int, [c[0] for c in copies]),
        _arr(ctypes.c_void_p, [c[1] if c[0] == 2 else 0 for c in copies]),
        _arr(ctypes.c_int, [c[1] if c[0] != 2 else 0 for c in copies]),
        _arr(ctypes.c_int, [c[2] for c in copies]),
        _arr(ctypes.c_int64, [c[3] for c in copies]), _arr(ctypes.c_int64, [c[4] for c in copies]),
        _arr(ctypes.c_void_p, [y.ctypes.data for y in ys]),
        _arr(ctypes.c_void_p, [a.ctypes.data for a in saved]), ctypes.c_int(1 if save else 0),
        c_pointers(ps), c_sizes, ctypes.c_void_p(ws.ctypes.data))
    if rc != 0:
        raise CompileError(f"generated code for the scan body {pir.name!r} failed (code {rc})")
    by_address = {a.ctypes.data: a for a in cur + nxt}
    final = [by_address[addr] for addr in list(cur_arr)[:nc]]   # where the last step wrote
    return final + ys + (saved if save else [None] * nc)
