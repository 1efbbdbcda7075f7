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
* identities dropped: the ``dce`` phase's no-op rules (``stop_gradient``, same-shape
  reshape/broadcast, same-dtype cast, identity transpose) run first, not restated here.

The rules are the ``canonicalize`` phase of the rule book, tried in table order; they
match operands by position (``commute=False``), since the order is what they settle.

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

from ..bind import ops_where
from ..ir import Tensor
from ..rules import ANY, As, Const, Rule, register_rules
from .dce import NOOP_RULES
from .patterns import compile_phase
from .facts import max_shift
from .rewrite import (broadcast_to, build, const_node, is_const, reshape, rewrite, scalar,
                      scratch, splat_value, transpose)

COMMUTATIVE = ops_where(commutative=True)
# broadcasting is implicit in these ops' operands (a cast has one operand and a target)
IMPLICIT_BROADCAST = ops_where(kind="elementwise") - {"cast"}


def _scalar_of(node: Tensor):
    """The constant a node is filled with, as a 0-d array of its dtype (or None)."""
    v = splat_value(node)
    return None if v is None else np.asarray(v).astype(node.dtype)


def _is_float(b) -> bool:
    return b["_"].dtype.kind == "f"


# ---- replacements --------------------------------------------------------------------------

def _drop_operand_broadcasts(b):
    """``f(broadcast_to(x), y)`` -> ``f(x, y)``; fit() re-adds one broadcast on top if needed."""
    n = b["_"]
    return build(n.op, *[i.inputs[0] if i.op == "broadcast_to" else i for i in n.inputs])


def _swap_operands(b):
    n = b["_"]
    return build(n.op, n.inputs[1], n.inputs[0])


def _constant_misplaced(b) -> bool:
    """Constants go first in products (``9*t``), last in other commutative ops (``x + 1``)."""
    n = b["_"]
    ca, cb = is_const(n.inputs[0]), is_const(n.inputs[1])
    return ca != cb and ca != (n.op == "mul")


def _twin(b):
    """CSE beyond hash-consing: ``b*a`` becomes the ``a*b`` met first. (Sorting every operand
    pair instead would rebuild whole gradients for no merge.) Records ``n`` for its twin."""
    n = b["_"]
    x, y = n.inputs
    if x is y or is_const(x) != is_const(y):
        return None
    seen = scratch()
    twin = seen.get((n.op, id(y), id(x), n.dtype))   # (a dtype compares as its .str does,
    if twin is None:                                  # which NumPy builds on each access)
        seen[(n.op, id(x), id(y), n.dtype)] = n
    return twin


def _push_reshape_down(b):
    """``reshape(f(x, scalar))`` -> ``f(reshape(x), scalar)`` (one full-shape operand)."""
    n, e = b["_"], b["e"]
    others = [i for i in e.inputs if i.ndim != 0]
    if len(others) != 1 or others[0].dims != e.dims:
        return None
    return build(e.op, *[reshape(i, n.dims) if i.ndim else i for i in e.inputs])


def _reshape_const(b):
    n, c = b["_"], b["c"]
    if not all(isinstance(d, int) for d in n.dims):
        return None
    return const_node(c.value.reshape(n.dims), c.dtype)


def _compose_transposes(b):
    p, q = b["t"].attr("perm"), b["_"].attr("perm")
    return transpose(b["x"], tuple(p[k] for k in q))


def _all_ones(x: Tensor) -> bool:
    return all(d == 1 for d in x.dims)


def _const_last(name: str, other: str):
    """Guard: ``name`` is a constant and ``other`` is not (constants move outward)."""
    return lambda b: is_const(b[name]) and not is_const(b[other])


def _with_scalar(op: str, a: str, value):
    """Replacement ``op(b[a], value(b))`` with ``value`` a 0-d array for the node's dtype."""
    return lambda b: build(op, b[a], scalar(value(b), b["_"].dtype))


def _scalar_first(op: str, value, a: str):
    return lambda b: build(op, scalar(value(b), b["_"].dtype), b[a])


def _rule(name, pattern, replace, guard=None, *, witness, near_miss=None) -> Rule:
    return Rule(name, pattern, replace, guard, witness, commute=False, near_miss=near_miss)


# ---- the table -----------------------------------------------------------------------------

SHAPE_OPS = frozenset({"reshape", "transpose"})

RULES = register_rules("canonicalize", [
    # implicit broadcasting and shapes
    _rule("f(broadcast x)", (IMPLICIT_BROADCAST, ANY), _drop_operand_broadcasts,
          lambda b: any(i.op == "broadcast_to" for i in b["_"].inputs),
          witness=lambda v: v.op("broadcast_to", v("x", ()), shape=(3, 4)) + v("y", (3, 4))),
    _rule("broadcast(broadcast x)", ("broadcast_to", ("broadcast_to", "x")),
          lambda b: broadcast_to(b["x"], b["_"].dims), None,
          witness=lambda v: v.op("broadcast_to", v.op("broadcast_to", v("x", (4,)),
                                                           shape=(3, 4)), shape=(2, 3, 4))),
    _rule("broadcast(ones-shaped x)", ("broadcast_to", "x"),
          lambda b: broadcast_to(reshape(b["x"], ()), b["_"].dims),
          lambda b: b["x"].ndim and _all_ones(b["x"]),
          witness=lambda v: v.op("broadcast_to", v("x", (1, 1)), shape=(3, 4)),
          near_miss=lambda v: v.op("broadcast_to", v("x", (4, 1)), shape=(3, 4, 1))),
    _rule("reshape/T(broadcast scalar)", (SHAPE_OPS, ("broadcast_to", "x")),
          lambda b: broadcast_to(b["x"], b["_"].dims), lambda b: b["x"].ndim == 0,
          witness=lambda v: v.op("reshape", v.op("broadcast_to", v("x", ()), shape=(3, 4)),
                                      shape=(12,)),
          near_miss=lambda v: v.op("reshape", v.op("broadcast_to", v("x", (4,)), shape=(3, 4)),
                                   shape=(12,))),
    _rule("reshape(reshape x)", ("reshape", ("reshape", "x")),
          lambda b: reshape(b["x"], b["_"].dims), None,
          witness=lambda v: v.op("reshape", v.op("reshape", v("x", (3, 4)), shape=(12,)),
                                      shape=(2, 6))),
    _rule("reshape(ones-shaped constant)", ("reshape", As("c", ("constant",))), _reshape_const,
          lambda b: _all_ones(b["c"]),
          witness=lambda v: v.op("reshape", v.const(2.5, (1, 1)), shape=(1,)) + v("x"),
          near_miss=lambda v: v.op("reshape", v.const(2.5, (2,)), shape=(2, 1))),
    _rule("reshape(f(x, scalars))", ("reshape", As("e", (IMPLICIT_BROADCAST, ANY))),
          _push_reshape_down, None,
          witness=lambda v: v.op("reshape", v("x", (3, 4)) * v("s", ()), shape=(12,))),
    _rule("T(T x)", ("transpose", As("t", ("transpose", "x"))), _compose_transposes, None,
          witness=lambda v: v.op("transpose", v.op("transpose", v("x", (2, 3, 4)),
                                                        perm=(1, 2, 0)), perm=(2, 0, 1))),
    # operand order and CSE
    _rule("constants first in *, last elsewhere", (COMMUTATIVE, ANY), _swap_operands,
          _constant_misplaced, witness=lambda v: v.op("add", v.const(2.0), v("x")),
          near_miss=lambda v: v("x") + 2.0),
    _rule("b*a is the a*b met first", (COMMUTATIVE, ANY), _twin, None,
          witness=lambda v: v("x") * v("y") - v("y") * v("x")),
    # sums: constants collected and moved outward, signs normalised
    _rule("(x+c1)+c2", ("add", ("add", "x", Const("c1")), Const("c2")),
          _with_scalar("add", "x", lambda b: _scalar_of(b["c1"]) + _scalar_of(b["c2"])), None,
          witness=lambda v: (v("x") + 1.5) + 2.0),
    _rule("a+(-b)", ("add", "a", ("neg", "b")), ("sub", "a", "b"), None,
          witness=lambda v: v("x") + (-v("y"))),
    _rule("(-a)+b", ("add", ("neg", "a"), "b"), ("sub", "b", "a"), None,
          witness=lambda v: (-v("x")) + v("y")),
    _rule("(x+c)+y", ("add", ("add", "x", "c"), "y"), ("add", ("add", "x", "y"), "c"),
          _const_last("c", "y"), witness=lambda v: (v("x") + 1.5) + v("y")),
    _rule("x-c", ("sub", "a", Const("c")), _with_scalar("add", "a", lambda b: -_scalar_of(b["c"])),
          _is_float, witness=lambda v: v("x") - 1.5, near_miss=lambda v: v("i", labels=5) - 2),
    _rule("a-(-b)", ("sub", "a", ("neg", "b")), ("add", "a", "b"), None,
          witness=lambda v: v("x") - (-v("y"))),
    # (``a - max(a)`` is left whole: it is how stable forms are recognised)
    _rule("(x+c)-y", ("sub", ("add", "x", "c"), "y"), ("add", ("sub", "x", "y"), "c"),
          lambda b: _const_last("c", "y")(b) and max_shift(b["y"]) is None,
          witness=lambda v: (v("x") + 1.5) - v("y"),
          near_miss=lambda v: (v("x") + 1.5) - v.op("max", v("x"), axes=(0,), keepdims=True)),
    # products: the constant first (``9*x``, as people write ``9*a**2``)
    _rule("-1*x", ("mul", Const("k"), "x"), ("neg", "x"),
          lambda b: _is_float(b) and _scalar_of(b["k"]) == -1,
          witness=lambda v: -1.0 * v("x"), near_miss=lambda v: -1 * v("i", labels=5)),
    _rule("k*(k2*y)", ("mul", Const("k"), ("mul", Const("k2"), "y")),
          _scalar_first("mul", lambda b: _scalar_of(b["k2"]) * _scalar_of(b["k"]), "y"), None,
          witness=lambda v: 3.0 * (2.0 * v("x"))),
    _rule("k*(-y)", ("mul", Const("k"), ("neg", "y")),
          _scalar_first("mul", lambda b: -_scalar_of(b["k"]), "y"), _is_float,
          witness=lambda v: 3.0 * (-v("x")), near_miss=lambda v: 3 * (-v("i", labels=5))),
    _rule("broadcast k * x", ("mul", Const("k"), "x"),
          _scalar_first("mul", lambda b: _scalar_of(b["k"]), "x"),
          lambda b: b["k"].ndim and not is_const(b["x"]),
          witness=lambda v: v.const(3.0, (4,)) * v("x", (3, 4)),
          near_miss=lambda v: 3.0 * v("x")),
    _rule("(c*a)*b", ("mul", ("mul", "c", "a"), "b"), ("mul", "c", ("mul", "a", "b")),
          _const_last("c", "b"), witness=lambda v: (2.0 * v("x")) * v("y")),
    _rule("a*(c*b)", ("mul", "a", ("mul", "c", "b")), ("mul", "c", ("mul", "a", "b")),
          _const_last("c", "a"), witness=lambda v: v("x") * (2.0 * v("y"))),
    # negations
    _rule("--x", ("neg", ("neg", "x")), "x", None, witness=lambda v: -(-v("x"))),
    _rule("-(a-b)", ("neg", ("sub", "a", "b")), ("sub", "b", "a"), None,
          witness=lambda v: -(v("x") - v("y"))),
    _rule("-constant", ("neg", Const("c")), lambda b: scalar(-_scalar_of(b["c"]), b["_"].dtype),
          lambda b: b["c"].op == "constant", witness=lambda v: v.op("neg", v.const(2.0))),
    _rule("-(k*y)", ("neg", ("mul", Const("k"), "y")),
          _scalar_first("mul", lambda b: -_scalar_of(b["k"]), "y"), None,
          witness=lambda v: -(3.0 * v("x"))),
])

# finding nothing to canonicalize implies no no-op node is left for DCE
CANONICALIZE = compile_phase("canonicalize", before=NOOP_RULES, implies={"dce"})


def canonicalize(outputs) -> list[Tensor]:
    """The canonical form of the graph of ``outputs`` (see the module docstring)."""
    return rewrite(outputs, CANONICALIZE)
