"""The control-flow primitives: ``scan``, ``while_loop`` and ``switch``.

Each is one node per result. The IR's nodes have one output each, so a loop with several
results (final carries, stacked per-step outputs) is several nodes over the same inputs and
the same ``Body`` attribute, differing only in ``output`` (which result the node is). They
hash-cons, print and rewrite like any node; a consumer that runs the loop (the interpreter,
a backend) runs it once for all the nodes of a group (``group_key``), and reverse mode
collects the cotangents of the whole group into one backward loop (``OpDef.multi_vjp``).
A packed "tuple" node with projections would instead need a value that is not an array
in every pass, the memory plan and the backends.

``scan`` operands: ``carries (n_carry), xs (n_x), constants (n_const)``; body inputs: one
placeholder per carry, per slice ``xs[t]`` and per constant. Results, by ``output``:
``[0, n_carry)`` final carries, ``[n_carry, n_carry + n_y)`` the stacked per-step outputs
and ``[n_carry + n_y, 2 n_carry + n_y)`` the stacked carries *entering* each step (the
residuals reverse mode saves; computed only if a node reads them).

``while_loop`` operands: ``carries, constants``; ``cond`` body -> one bool scalar, ``body``
-> new carries; results: the final carries.

``switch`` operands: ``index, operands, constants``; ``branches``: one body per branch,
each over the same inputs, with outputs of the same shapes; the index is clamped into
``[0, len(branches))`` (as ``lax.switch``).
"""
from __future__ import annotations

import hashlib

import numpy as np

from ..errors import EvalError, ShapeError
from ..ir import Tensor, format_shape, resolve_dims, topo_order
from ..subgraph import Body


# ---- shapes -----------------------------------------------------------------------------

def _fits(actual, expected) -> bool:
    """Same rank; known sizes equal (a run-time size matches any: rewrites may relabel)."""
    return len(actual) == len(expected) and all(
        a == b or isinstance(a, str) or isinstance(b, str) for a, b in zip(actual, expected))


def _check_operands(op: str, operands, placeholders, what) -> None:
    if len(operands) != len(placeholders):
        raise ShapeError(f"{op}: {len(operands)} operands for a body of "
                         f"{len(placeholders)} inputs")
    for k, (t, p) in enumerate(zip(operands, placeholders)):
        dims = what(t)
        if not _fits(dims, p.dims) or t.dtype != p.dtype:
            raise ShapeError(f"{op}: operand {k} ({p.name}) is {t.dtype}{format_shape(dims)}, "
                             f"the body expects {p.dtype}{format_shape(p.dims)}")


def scan_counts(body: Body) -> tuple[int, int, int, int]:
    c = body.counts
    return c["carry"], c["x"], c["const"], c["y"]


def _scan_shape(inputs, attrs):
    body, length, output = attrs["body"], attrs["length"], attrs["output"]
    nc, nx, nk, ny = scan_counts(body)
    carries, xs = inputs[:nc], inputs[nc:nc + nx]
    for x in xs:
        if not x.ndim or not _fits((x.dims[0],), (length,)):
            raise ShapeError(f"scan: per-step input of shape {format_shape(x.dims)} does not "
                             f"have the scan's length {length} as its first axis")
    _check_operands("scan", inputs[:nc], body.inputs[:nc], lambda t: t.dims)
    _check_operands("scan", xs, body.inputs[nc:nc + nx], lambda t: t.dims[1:])
    _check_operands("scan", inputs[nc + nx:], body.inputs[nc + nx:], lambda t: t.dims)
    if not 0 <= output < 2 * nc + ny + len(body.residuals):
        raise ShapeError(f"scan: output {output} out of range")
    if output < nc:
        return carries[output].dims, carries[output].dtype
    if output < nc + ny:
        y = body.outputs[output]
        return (length, *y.dims), y.dtype
    if output < 2 * nc + ny:
        c = carries[output - nc - ny]
        return (length, *c.dims), c.dtype
    r = body.residuals[output - 2 * nc - ny]
    return (length, *r.dims), r.dtype


def _while_shape(inputs, attrs):
    cond, body, output = attrs["cond"], attrs["body"], attrs["output"]
    nc = body.counts["carry"]
    _check_operands("while_loop", inputs, body.inputs, lambda t: t.dims)
    if not 0 <= output < nc:
        raise ShapeError(f"while_loop: output {output} out of range")
    if cond.inputs != body.inputs:
        raise ShapeError("while_loop: cond and body must share their inputs")
    return inputs[output].dims, inputs[output].dtype


def _switch_shape(inputs, attrs):
    branches, output = attrs["branches"], attrs["output"]
    index = inputs[0]
    if index.ndim or index.dtype.kind not in "iub":
        raise ShapeError(f"switch: the index must be an int or bool scalar, got "
                         f"{index.dtype}{format_shape(index.dims)}")
    _check_operands("switch", inputs[1:], branches[0].inputs, lambda t: t.dims)
    out = branches[0].outputs[output]
    return out.dims, out.dtype


# ---- the reference semantics --------------------------------------------------------------

def run_body(body: Body, outputs, arrays: list) -> list[np.ndarray]:
    """Evaluate ``outputs`` of ``body`` on input arrays, node by node (the interpreter's
    ``run_node``; ``order`` cached on the body)."""
    from ..interpreter import run_node
    key = ("order", tuple(id(o) for o in outputs))
    order = body.derived.get(key)
    if order is None:
        order = body.derived[key] = [n for n in topo_order(list(outputs))
                                     if n.op != "placeholder"]
    env = {id(p): a for p, a in zip(body.inputs, arrays)}
    bindings: dict = {}
    for p, a in zip(body.inputs, arrays):
        for d, s in zip(p.dims, np.shape(a)):
            if isinstance(d, str):
                bindings.setdefault(d, s)
    for n in order:
        if id(n) not in env:
            env[id(n)] = run_node(n, [env[id(i)] for i in n.inputs], bindings)
    return [env[id(o)] for o in outputs]


def _memoized(body: Body, key, arrays, compute):
    """One run per group of nodes: the last inputs (by a digest of their contents: a fed
    array may change between calls) and results per body."""
    arrays = [np.asarray(a) for a in arrays]
    fingerprint = (key, tuple((a.dtype.str, a.shape,
                               hashlib.blake2b(np.ascontiguousarray(a).data,
                                               digest_size=16).digest()) for a in arrays))
    if body.memo is not None and body.memo[0] == fingerprint:
        return body.memo[1]
    results = compute()
    body.memo = (fingerprint, results)
    return results


def scan_length(length, xs: list) -> int:
    if isinstance(length, int):
        return length
    return int(xs[0].shape[0])


def run_scan(body: Body, arrays: list, length, reverse: bool, run=run_body,
             save: bool = True, residuals: bool = False) -> list:
    """All results of a scan (final carries, stacked ys, stacked carries-in, the last only
    with ``save``; then with ``residuals`` the stacked ``body.residuals``).
    ``run(body, outputs, arrays)`` runs one step."""
    if residuals and body.residuals:   # the residuals as more per-step outputs
        nc, _, _, ny = scan_counts(body)
        wide = Body(body.inputs, body.outputs + tuple(body.residuals), body.kind,
                    {**body.counts, "y": ny + len(body.residuals)})
        out = run_scan(wide, arrays, length, reverse, run, save)
        return out[:nc + ny] + out[nc + ny + len(body.residuals):] + out[nc + ny:nc + ny + len(
            body.residuals)]
    nc, nx, nk, ny = scan_counts(body)
    carry = [np.asarray(a) for a in arrays[:nc]]
    xs, consts = arrays[nc:nc + nx], list(arrays[nc + nx:])
    steps = scan_length(length, xs)
    ys: list | None = None
    saved: list = []
    for step in range(steps):
        t = steps - 1 - step if reverse else step
        outs = run(body, body.outputs, carry + [x[t] for x in xs] + consts)
        if ys is None:
            ys = [np.empty((steps, *np.shape(y)), body.outputs[nc + j].dtype)
                  for j, y in enumerate(outs[nc:])]
            saved = [np.empty((steps, *c.shape), c.dtype) if save else None for c in carry]
        for j, y in enumerate(outs[nc:]):
            ys[j][t] = y
        if save:
            for j, c in enumerate(carry):
                saved[j][t] = c
        carry = [np.asarray(c) for c in outs[:nc]]
    if ys is None:   # no steps: empty stacks, shaped from the body's static shapes
        bindings: dict = {}
        for p, a in zip(body.inputs, [*carry, *[np.empty(np.shape(x)[1:]) for x in xs],
                                      *consts]):
            for d, s in zip(p.dims, np.shape(a)):
                if isinstance(d, str):
                    bindings.setdefault(d, s)
        try:
            ys = [np.empty((0, *resolve_dims(y.dims, bindings)), y.dtype)
                  for y in body.outputs[nc:]]
        except KeyError:
            raise EvalError("scan: a zero-length scan whose per-step output size is known "
                            "only at run time") from None
        saved = [np.empty((0, *c.shape), c.dtype) for c in carry]
    return [np.array(c) for c in carry] + ys + saved


def pruned_scan(body: Body, needed: set):
    """``(body', expand)``: the body without the per-step outputs no node reads (dead code
    across the loop boundary), and ``expand(results)`` putting ``run_scan``'s results of
    ``body'`` back at the original output indices (``None`` where pruned)."""
    nc, _, _, ny = scan_counts(body)
    keep = [j for j in range(ny) if nc + j in needed]
    res = [r for r in range(len(body.residuals)) if 2 * nc + ny + r in needed]
    if len(keep) == ny and not res:
        return body, lambda results: list(results)
    key = ("pruned", tuple(keep), tuple(res))
    small = body.derived.get(key)
    if small is None:   # the saved residuals needed are more per-step outputs here
        small = body.derived[key] = Body(
            body.inputs, body.outputs[:nc] + tuple(body.outputs[nc + j] for j in keep)
            + tuple(body.residuals[r] for r in res),
            body.kind, {**body.counts, "y": len(keep) + len(res)})

    def expand(results):
        ys = [None] * ny
        for i, j in enumerate(keep):
            ys[j] = results[nc + i]
        stacked = [None] * (max(res) + 1 if res else 0)
        for i, r in enumerate(res):
            stacked[r] = results[nc + len(keep) + i]
        saved = list(results[nc + len(keep) + len(res):])
        return list(results[:nc]) + ys + saved + stacked
    return small, expand


def _scan_impl(*arrays, body, length, reverse, output):
    results = _memoized(body, ("scan", length, reverse, len(body.residuals)), arrays,
                        lambda: run_scan(body, list(arrays), length, reverse, residuals=True))
    return results[output]


def run_while(cond: Body, body: Body, arrays: list, run=run_body) -> list:
    nc = body.counts["carry"]
    carry, consts = [np.asarray(a) for a in arrays[:nc]], list(arrays[nc:])
    while bool(run(cond, cond.outputs, carry + consts)[0]):
        carry = [np.asarray(c) for c in run(body, body.outputs, carry + consts)]
    return [np.array(c) for c in carry]


def _while_impl(*arrays, cond, body, output):
    results = _memoized(body, ("while", id(cond)), arrays,
                        lambda: run_while(cond, body, list(arrays)))
    return results[output]


def branch_index(index, n: int) -> int:
    return int(np.clip(int(index), 0, n - 1))


def _switch_impl(*arrays, branches, output):
    k = branch_index(arrays[0], len(branches))
    results = _memoized(branches[k], ("switch",), arrays[1:],
                        lambda: [np.array(o) for o in run_body(
                            branches[k], branches[k].outputs, list(arrays[1:]))])
    return results[output]


def group_key(n: Tensor) -> tuple:
    """Nodes with equal keys are results of one loop (or one branch choice)."""
    return (n.op, tuple(id(i) for i in n.inputs),
            tuple((k, id(v) if isinstance(v, (Body, tuple)) else v)
                  for k, v in n.attrs if k != "output"))
