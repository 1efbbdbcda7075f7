"""The numerics guard behind ``gc.compile(..., check_numerics=True)``.

Backend-agnostic: after a call, if any output or new parameter value holds a NaN or
an Inf, the reference interpreter re-runs the graph with the same feeds and the
same (old) parameter values, node by node in topological order, and stops at the
first node whose result is not finite. The error names that node's op, its
expression, its input shapes and ranges, and the user's file:line where the node
was created; the updates of that call are not applied (the ``Function`` raises
before committing them).

The user's graph is searched first (its nodes carry the user's file:line); if it
stays finite there (an optimization changed the arithmetic, or the backend
disagrees with the interpreter), the optimized program is searched, and failing
that the error says that only the backend produced the value.

>>> import numpy as np, graphc as gc
>>> x = gc.placeholder("x", (2,))
>>> f = gc.compile(gc.log(x - 1.0) * 2, check_numerics=True)
>>> try:
...     f(np.array([3.0, 0.5], np.float32))
... except gc.NumericsError as e:
...     print(e.op, e.kind)
log NaN
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import NumericsError
from .interpreter import run_node
from .ir import Tensor, format_shape, topo_order

MAX_EXPR = 400  # characters of the expression shown in the message


@dataclass
class Finding:
    """The first node whose value is not finite, with the values it was computed from."""

    node: Tensor
    value: np.ndarray
    inputs: list


def _nonfinite(v) -> bool:
    v = np.asarray(v)
    return v.dtype.kind in "fc" and not np.all(np.isfinite(v))


def first_nonfinite(roots: Sequence[Tensor], feeds: dict, bindings: dict) -> Finding | None:
    """Evaluate ``roots`` node by node (iteratively); the first non-finite node, or None.

    ``feeds`` maps ``id(placeholder)`` to its array; parameters use their current value.
    """
    order = topo_order(list(roots))
    last_use = {}
    for k, n in enumerate(order):
        for i in n.inputs:
            last_use[id(i)] = k
    env: dict[int, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for k, n in enumerate(order):
            if n.op == "placeholder":
                if id(n) not in feeds:
                    return None  # a graph we cannot replay with these feeds
                value = np.asarray(feeds[id(n)])
            elif n.op == "parameter":
                assert n.state is not None  # a parameter always has its state
                value = n.state.value
            else:
                value = run_node(n, [env[id(i)] for i in n.inputs], bindings)
            if _nonfinite(value):
                return Finding(n, value, [env[id(i)] for i in n.inputs])
            env[id(n)] = value
            for i in n.inputs:  # free what no later node reads (deep graphs stay small)
                if last_use[id(i)] == k:
                    env.pop(id(i), None)
    return None


def _kind(value: np.ndarray) -> str:
    return "NaN" if np.any(np.isnan(value)) else "Inf"


def _first_index(value: np.ndarray) -> tuple:
    bad = np.argwhere(~np.isfinite(np.asarray(value)))
    return tuple(int(i) for i in bad[0]) if bad.size else ()


def _range(value) -> str:
    v = np.asarray(value)
    if v.size == 0:
        return "empty"
    if v.dtype.kind not in "iufb":
        return str(v.dtype)
    finite = v[np.isfinite(v)] if v.dtype.kind == "f" else v
    extra = ""
    if v.dtype.kind == "f" and finite.size < v.size:
        extra = f", {v.size - finite.size} non-finite"
    if finite.size == 0:
        return f"no finite values{extra}"
    return f"min {float(finite.min()):.6g}, max {float(finite.max()):.6g}{extra}"


def _expression(node: Tensor) -> str:
    from .printing import show_expression
    try:
        text = show_expression(node)
    except Exception:  # printing must never hide the numerics report
        text = node.op
    text = " ; ".join(text.splitlines())
    return text if len(text) <= MAX_EXPR else text[:MAX_EXPR] + " ..."


def describe(f: Finding, where: str) -> str:
    """The error text for a finding."""
    n, kind = f.node, _kind(f.value)
    index = _first_index(f.value)
    at = f" at index {index}" if index else ""
    if n.op == "placeholder":
        return (f"check_numerics: input {n.name!r} {format_shape(n.dims)} contains {kind}{at} "
                f"(fed at call time; {_range(f.value)})")
    if n.op == "parameter":
        return (f"check_numerics: parameter {n.name!r} {format_shape(n.dims)} holds {kind}{at} "
                f"(created at {n.location})")
    if n.op == "constant":
        return (f"check_numerics: a constant {format_shape(n.dims)} created at {n.location} "
                f"contains {kind}{at}")
    ins = "; ".join(f"{np.asarray(v).dtype.name}{tuple(np.shape(v))} ({_range(v)})"
                    for v in f.inputs)
    return (f"check_numerics: first {kind} produced by {n.op} (created at {n.location}){at} "
            f"in {where}\n  expression: {_expression(n)}\n"
            f"  result: {n.dtype.name}{format_shape(n.dims)}\n  inputs: {ins}")


def check_call(outputs: Sequence, updates: Sequence, user_roots: Sequence[Tensor],
               program_roots: Sequence[Tensor], inputs: Sequence[Tensor],
               arrays: Sequence[np.ndarray], bindings: dict, backend: str = "") -> None:
    """Raise ``NumericsError`` if any output or new parameter value is not finite.

    Called by ``Function`` after the backend ran and before updates are committed.
    """
    bad = [("output", k) for k, a in enumerate(outputs) if _nonfinite(a)]
    bad += [("new value of an updated parameter", k) for k, a in enumerate(updates)
            if _nonfinite(a)]
    if not bad:
        return
    feeds = {id(p): a for p, a in zip(inputs, arrays)}
    what = ", ".join(f"{w} {k}" for w, k in bad)
    for roots, where in ((user_roots, "the graph"), (program_roots, "the optimized graph")):
        found = first_nonfinite(roots, feeds, bindings)
        if found is not None:
            err = NumericsError(f"{describe(found, where)}\n  reaches: {what}")
            err.node, err.op, err.kind = found.node, found.node.op, _kind(found.value)
            err.location = found.node.location
            raise err
    err = NumericsError(
        f"check_numerics: the {backend or 'backend'} backend produced NaN/Inf in {what}, but "
        f"the reference interpreter computes finite values from the same inputs (a backend "
        f"bug; please report it with the graph)")
    err.node, err.op, err.kind, err.location = None, None, "NaN/Inf", None
    raise err
