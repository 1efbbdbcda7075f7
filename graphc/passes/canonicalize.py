"""Canonicalize: one spelling per expression, so equal expressions become one node.

Hash-consing already merges structurally identical nodes; this pass makes more of
them identical (CSE beyond hash-consing):

* constants first in products (``9*t``) and last in other commutative ops (``x + 1``),
  and ``b*a`` replaced by an ``a*b`` already in the graph, so they are one node;
* constants collected and moved outward: ``2*(3*x)`` -> ``6*x``, ``(x+1)+2`` -> ``x+3``;
* signs normalised: ``x - c`` -> ``x + (-c)``, ``--x`` -> ``x``, ``-1*x`` -> ``-x``,
  ``a + -b`` -> ``a - b``, ``-(c*a)`` -> ``(-c)*a``;
* broadcasts of a scalar kept as scalars: an elementwise operand
  ``broadcast_to(x)`` becomes ``x`` (broadcasting is implicit), reshapes of
  broadcast scalars are broadcasts, nested broadcasts/reshapes/transposes collapse,
  so the cotangent plumbing autodiff emits shrinks to scalars;
* identities dropped: ``stop_gradient`` (it only matters to autodiff, which has
  run), same-shape reshape/broadcast, same-dtype cast, identity transpose.

>>> import graphc as gc
>>> x = gc.placeholder("x", (3,))
>>> from graphc.passes.canonicalize import canonicalize
>>> print(gc.show(canonicalize([2 * (3 * x)])))
graph(x: f32[3]) {
  t1: f32[3] = mul(6.0, x)
  return t1
}
"""
from __future__ import annotations

import numpy as np

from ..ir import Tensor
from ..ops import OPS
from .rewrite import (NamedRule, broadcast_to, build, const_node, is_const, reshape, rewrite,
                      scalar, scratch, splat_value, transpose)

_COMMUTATIVE = frozenset(name for name, op in OPS.items() if op.commutative)


def _scalar_of(node: Tensor):
    """The constant a node is filled with, as a 0-d array of its dtype (or None)."""
    v = splat_value(node)
    return None if v is None else np.asarray(v).astype(node.dtype)


_IDENTITY_OPS = ("stop_gradient",)


def canonical_rule(n: Tensor) -> Tensor | None:
    """One canonicalization step on ``n`` (its inputs already canonical), or ``None``."""
    op = n.op
    ins = n.inputs
    if op in _IDENTITY_OPS:
        return ins[0]
    if op == "cast" and ins[0].dtype == n.dtype:
        return ins[0]
    if op in ("reshape", "broadcast_to") and ins[0].dims == n.dims:
        return ins[0]
    if op == "transpose" and n.attr("perm") == tuple(range(n.ndim)):
        return ins[0]
    kind = OPS[op].kind
    if kind == "elementwise" and op != "cast" and any(i.op == "broadcast_to" for i in ins):
        # broadcasting is implicit in elementwise ops; fit() re-adds one on top if needed
        return build(op, *[i.inputs[0] if i.op == "broadcast_to" else i for i in ins])
    if kind == "shape":
        return _shape_rule(n)
    if op in _COMMUTATIVE:
        a, b = ins
        ca, cb = is_const(a), is_const(b)
        if ca != cb and ca != (op == "mul"):  # constants first in products, last elsewhere
            return build(op, b, a)
        if ca == cb and a is not b:
            # CSE beyond hash-consing: b*a becomes the a*b met first. (Sorting every
            # operand pair instead would rebuild whole gradients for no merge.)
            seen = scratch()
            twin = seen.get((op, id(b), id(a), n.dtype.str))
            if twin is not None:
                return twin
            seen[(op, id(a), id(b), n.dtype.str)] = n
    if op == "add":
        return _add_rule(n)
    if op == "sub":
        return _sub_rule(n)
    if op == "mul":
        return _mul_rule(n)
    if op == "neg":
        return _neg_rule(n)
    return None


def _shape_rule(n: Tensor) -> Tensor | None:
    x = n.inputs[0]
    if n.op == "broadcast_to":
        if x.op == "broadcast_to":
            return broadcast_to(x.inputs[0], n.dims)
        if x.ndim and all(d == 1 for d in x.dims):
            return broadcast_to(reshape(x, ()), n.dims)
        return None
    if x.op == "broadcast_to" and x.inputs[0].ndim == 0:
        return broadcast_to(x.inputs[0], n.dims)
    if n.op == "reshape":
        if x.op == "reshape":
            return reshape(x.inputs[0], n.dims)
        if x.ndim == 0 or all(d == 1 for d in x.dims):
            if x.op == "constant":
                return const_node(x.value.reshape(n.dims), x.dtype) \
                    if all(isinstance(d, int) for d in n.dims) else None
        if OPS[x.op].kind == "elementwise" and x.op != "cast":
            # push reshapes below elementwise ops with scalar side operands
            others = [i for i in x.inputs if i.ndim != 0]
            if len(others) == 1 and others[0].dims == x.dims:
                return build(x.op, *[reshape(i, n.dims) if i.ndim else i for i in x.inputs])
        return None
    if n.op == "transpose":
        if x.op == "transpose":
            p, q = x.attr("perm"), n.attr("perm")
            return transpose(x.inputs[0], tuple(p[k] for k in q))
    return None


def _add_rule(n: Tensor) -> Tensor | None:
    a, b = n.inputs
    cb = _scalar_of(b)
    if cb is not None:
        if a.op in ("add", "sub") and _scalar_of(a.inputs[1]) is not None and a.op == "add":
            return build("add", a.inputs[0], scalar(_scalar_of(a.inputs[1]) + cb, n.dtype))
    if b.op == "neg":
        return build("sub", a, b.inputs[0])
    if a.op == "neg":
        return build("sub", b, a.inputs[0])
    if a.op == "add" and is_const(a.inputs[1]) and not is_const(b):
        return build("add", build("add", a.inputs[0], b), a.inputs[1])
    return None


def _sub_rule(n: Tensor) -> Tensor | None:
    a, b = n.inputs
    cb = _scalar_of(b)
    if cb is not None and n.dtype.kind == "f":
        return build("add", a, scalar(-cb, n.dtype))
    if b.op == "neg":
        return build("add", a, b.inputs[0])
    if a.op == "add" and is_const(a.inputs[1]) and not is_const(b) and b.op != "max":
        # (``a - max(a)`` is left whole: it is how stable forms are recognised)
        return build("add", build("sub", a.inputs[0], b), a.inputs[1])
    return None


def _mul_rule(n: Tensor) -> Tensor | None:
    """Products keep their constant first: ``c * x`` (as people write ``9*a**2``)."""
    c, x = n.inputs
    k = _scalar_of(c)
    if k is not None:
        if n.dtype.kind == "f" and k == -1:
            return build("neg", x)
        if x.op == "mul" and _scalar_of(x.inputs[0]) is not None:
            return build("mul", scalar(_scalar_of(x.inputs[0]) * k, n.dtype), x.inputs[1])
        if x.op == "neg" and n.dtype.kind == "f":
            return build("mul", scalar(-k, n.dtype), x.inputs[0])
        if c.ndim and not is_const(x):
            return build("mul", scalar(k, n.dtype), x)
    a, b = n.inputs  # constants move outward, where they meet and fold
    if a.op == "mul" and is_const(a.inputs[0]) and not is_const(b):
        return build("mul", a.inputs[0], build("mul", a.inputs[1], b))
    if b.op == "mul" and is_const(b.inputs[0]) and not is_const(a):
        return build("mul", b.inputs[0], build("mul", a, b.inputs[1]))
    return None


def _neg_rule(n: Tensor) -> Tensor | None:
    x = n.inputs[0]
    if x.op == "neg":
        return x.inputs[0]
    if x.op == "sub":
        return build("sub", x.inputs[1], x.inputs[0])
    c = _scalar_of(x)
    if c is not None and x.op == "constant":
        return scalar(-c, n.dtype)
    if x.op == "mul" and _scalar_of(x.inputs[0]) is not None:
        return build("mul", scalar(-_scalar_of(x.inputs[0]), n.dtype), x.inputs[1])
    return None


# finding nothing to canonicalize implies no no-op node is left for DCE
CANONICALIZE = NamedRule("canonicalize", canonical_rule, frozenset({"dce"}))


def canonicalize(outputs) -> list[Tensor]:
    """The canonical form of the graph of ``outputs`` (see the module docstring)."""
    return rewrite(outputs, CANONICALIZE)
