"""Loops and branches in the NumPy backend: a Python loop over compiled bodies.

Each body (a closed sub-graph, ``graphc.subgraph.Body``) is optimized by the same pass
pipeline as any graph (simplify, fold, dead code...) and rendered as its own NumPy
program; its scratch buffers are allocated once per run of the loop and reused by every
step. The outer module calls ``LOOPS[k].run(operands...)`` once per group of loop nodes
(the results of one loop) and reads the other results of the group from ``.last``.

>>> import graphc as gc
>>> x = gc.placeholder("x", (4,))
>>> total, _ = gc.scan(lambda c, v: (c * v, None), gc.constant(1.0), x)
>>> f = gc.compile(total)
>>> float(f([1., 2., 3., 4.]))
24.0
>>> "LOOPS[0].run(" in f.source["graph.py"]
True
"""
from __future__ import annotations

import numpy as np

from ..ir import Tensor
from ..passes.pipeline import run_pipeline
from ..control.primitives import branch_index, run_scan, run_while, scan_counts
from ..subgraph import Body
from .base import Program


class CompiledBody:
    """One body as a NumPy program: ``step(arrays) -> outputs``, scratch buffers reused."""

    def __init__(self, body: Body, build, name: str):
        result = run_pipeline(list(body.outputs))
        self.body = body
        self.exe = build(Program(name=name, inputs=body.inputs, params=(),
                                 outputs=tuple(result.outputs),
                                 options={"output_structure": "list"}))
        self.compute = self.exe.module.compute
        self._ws: dict = {}

    def start(self, arrays: list):
        """The (sizes, workspace) for inputs shaped like ``arrays`` (the same every step)."""
        bindings = {}
        for p, a in zip(self.body.inputs, arrays):
            for d, s in zip(p.dims, np.shape(a)):
                if isinstance(d, str):
                    bindings.setdefault(d, s)
        sizes = tuple(int(bindings[d]) for d in self.exe.dim_keys)
        ws = self._ws.get(sizes)
        if ws is None:
            self._ws = {sizes: self.exe.module.workspace(*sizes)}   # one set: bounded memory
            ws = self._ws[sizes]
        return sizes, ws

    def stepper(self):
        """``run(body, outputs, arrays)`` for ``run_scan``/``run_while``: sizes and
        workspace looked up at the first step, reused by the others."""
        state = []
        compute = self.compute

        def run(body, outputs, args):
            if not state:
                state.extend(self.start(args))
            return compute(*args, *state[0], state[1])[0]
        return run


class LoopRunner:
    """Runs one loop (or branch choice) for the module of its outer graph."""

    def __init__(self, node: Tensor, needed: set, build):
        self.op = node.op
        self.attrs = dict(node.attrs)
        self.needed = needed
        self.last = None
        if node.op == "scan":
            self.body = CompiledBody(self.attrs["body"], build, "scan_body")
        elif node.op == "while_loop":
            self.cond = CompiledBody(self.attrs["cond"], build, "while_cond")
            self.body = CompiledBody(self.attrs["body"], build, "while_body")
        else:
            self.branches = [CompiledBody(b, build, f"branch{k}")
                             for k, b in enumerate(self.attrs["branches"])]

    def run(self, *arrays):
        arrays = [np.asarray(a) for a in arrays]
        a = self.attrs
        if self.op == "scan":
            nc, _, _, ny = scan_counts(a["body"])
            save = any(o >= nc + ny for o in self.needed)
            self.last = run_scan(a["body"], arrays, a["length"], a["reverse"],
                                 run=self.body.stepper(), save=save)
        elif self.op == "while_loop":
            cond_step, body_step = self.cond.stepper(), self.body.stepper()
            self.last = run_while(a["cond"], a["body"], arrays,
                                  run=lambda b, o, x: (cond_step if b is a["cond"]
                                                       else body_step)(b, o, x))
        else:
            chosen = self.branches[branch_index(arrays[0], len(self.branches))]
            self.last = list(chosen.stepper()(None, None, arrays[1:]))
        return self.last


def loop_key(n: Tensor) -> tuple:
    """Nodes with equal keys are results of one run of a loop."""
    return (n.op, tuple(id(i) for i in n.inputs),
            tuple((k, id(v) if isinstance(v, (Body, tuple)) else v)
                  for k, v in n.attrs if k != "output"))
