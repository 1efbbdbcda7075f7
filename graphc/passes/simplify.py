"""Algebraic simplification: the ``simplify`` phase of the rule book (``graphc.rules``
describes the pattern language), declarative pattern -> replacement rules in one table,
each with a witness graph for its test.

Sign normalisation (``--x``, ``a + -b``) and ``T(T x)`` are canonicalize's rules, which
this pass runs as cleanup. Every replacement is checked by the rewrite engine to keep the
node's dtype and shape. Semantics: rules assume finite values, like a C compiler's
``-ffinite-math-only``: ``x*0`` -> ``0`` and ``x-x`` -> ``0`` even though IEEE gives NaN
for ``inf*0``; ``x/x`` -> ``1`` only where ``x`` is provably non-zero (``exp``, ``sigmoid``,
non-zero constants); ``exp(log x)`` -> ``x`` only where ``x >= 0`` is provable. The
``sum(one_hot(y))`` -> ``1`` rule assumes labels in range (as ``cross_entropy`` does).

>>> import graphc as gc
>>> from graphc.passes.simplify import simplify
>>> x = gc.placeholder("x", (3,))
>>> print(gc.show(simplify([gc.log(gc.exp(x)) * 1.0 + 0.0])))
graph(x: f32[3]) {
  return x
}
"""
from __future__ import annotations

import numpy as np

from .. import api as A
from ..ir import Tensor
from ..rules import As, Rule, register_rules
from .canonicalize import CANONICALIZE
from .facts import negative_const, nonneg, nonzero
from .fold import FOLD
from .patterns import compile_phase
from .rewrite import broadcast_to, build, filled, reshape, rewrite, scalar, splat_value


def _is_scalar(x: Tensor) -> bool:
    return x.ndim == 0


# ---- replacements that need code -------------------------------------------------------------

def _zeros(b):
    return filled(0, b["_"])


def _ones(b):
    return filled(1, b["_"])


def _pow_const(b):
    """Small constant powers as multiplies / sqrt (``pow`` costs ~10 adds)."""
    x, p = b["x"], splat_value(b["p"])
    if p is None or b["_"].dtype.kind != "f":
        return None
    p = float(p)
    one = scalar(1, b["_"].dtype)

    def sq():
        return build("mul", x, x)
    table = {1.0: lambda: x, 2.0: sq, 3.0: lambda: build("mul", sq(), x),
             4.0: lambda: build("mul", sq(), sq()), 0.5: lambda: build("sqrt", x),
             -1.0: lambda: build("div", one, x), -2.0: lambda: build("div", one, sq()),
             -0.5: lambda: build("div", one, build("sqrt", x))}
    make = table.get(p)
    return make() if make else None


def _reduced(node: Tensor) -> tuple:
    return node.attr("axes")


def _sum_of_broadcast(b):
    """``sum(broadcast_to(x, S), axes)`` over stretched axes only: ``x * count``."""
    n, bc, x = b["_"], b["bc"], b["x"]
    S = bc.dims
    axes = _reduced(n)
    lead = len(S) - x.ndim
    xfull = (1,) * lead + tuple(x.dims)
    if any(xfull[a] != 1 for a in axes):
        return None
    count: list = [S[a] for a in axes]
    keep_dims = tuple(1 if a in axes else S[a] for a in range(len(S)))
    y = reshape(x, xfull) if x.dims != xfull else x
    y = broadcast_to(y, tuple(1 if a in axes else xfull[a] if xfull[a] == S[a] else S[a]
                                for a in range(len(S))))
    if all(isinstance(c, int) for c in count):
        total = int(np.prod(count, dtype=np.int64))
        out = y if total == 1 else build("mul", y, scalar(total, n.dtype))
    else:
        out = build("mul", y, A.element_count(count, n.dtype))
    if not n.attr("keepdims"):
        out = reshape(out, tuple(d for a, d in enumerate(keep_dims) if a not in axes))
    return out


def _sum_of_scaled(b):
    """``sum(s * x)`` with ``s`` a scalar: ``s * sum(x)``."""
    n = b["_"]
    return build("mul", build("sum", b["x"], axes=n.attr("axes"), keepdims=n.attr("keepdims")),
                 b["s"])


def _sum_of_neg(b):
    n = b["_"]
    return build("neg", build("sum", b["x"], axes=n.attr("axes"), keepdims=n.attr("keepdims")))


def _sum_one_hot(b):
    """Rows of ``one_hot`` sum to 1 (labels in range, as cross_entropy assumes)."""
    n, oh = b["_"], b["oh"]
    if n.attr("axes") != (oh.ndim - 1,):
        return None
    return filled(1, n)


def _sum_chosen(b):
    """``sum(where(one_hot(y), c, 0))`` over the classes is ``c`` when ``c`` is the same for
    every class of a row: exactly one class is chosen (labels in range, which
    ``cross_entropy`` checks when the graph runs)."""
    n, oh, c = b["_"], b["oh"], b["c"]
    if n.attr("axes") != (oh.ndim - 1,) or c.ndim > oh.ndim or (c.ndim and c.dims[-1] != 1):
        return None
    if c.ndim == oh.ndim and not n.attr("keepdims"):
        return reshape(c, c.dims[:-1])
    return c


def _scalar_out(b):
    return build("mul", build("mul", b["a"], b["c"]), b["s"])


# ---- the table -----------------------------------------------------------------------------

def _pos(v, name="x"):
    """A witness operand that is provably positive (the guards need it)."""
    return A.exp(v(name))


def _powers(v):
    x = v("x", positive=True)
    terms = [x ** p for p in (1.0, 2.0, 3.0, 4.0, 0.5, -1.0, -2.0, -0.5)]
    return sum(terms[1:], terms[0])


def _sums_of_broadcasts(v):
    """Over static stretched axes (kept or not, another stretched axis left), and over a
    run-time one (``n`` bound by ``y``)."""
    x, y = v("x", (3, 1)), v("y", ("n", 3))
    return [A.sum(A.broadcast_to(x, (2, 3, 4)), axis=(0, 2)),
            A.sum(A.broadcast_to(x, (2, 3, 4)), axis=0),  # a stretched axis stays
            A.sum(A.broadcast_to(x, (2, 3, 4)), axis=2, keepdims=True),
            A.sum(A.broadcast_to(v("z", (1, 3)), ("n", 3)), axis=0) + A.sum(y, axis=0)]


RULES = register_rules("simplify", [
    # identities
    Rule("x*1", ("mul", "x", 1), "x", witness=lambda v: v("x") * 1.0),
    Rule("x+0", ("add", "x", 0), "x", witness=lambda v: v("x") + 0.0),
    Rule("x-0", ("sub", "x", 0), "x", witness=lambda v: v("x") - 0.0),
    Rule("0-x", ("sub", 0, "x"), ("neg", "x"), witness=lambda v: 0.0 - v("x")),
    Rule("x/1", ("div", "x", 1), "x", witness=lambda v: v("x") / 1.0),
    Rule("x-x", ("sub", "x", "x"), _zeros, witness=lambda v: v("x") - v("x")),
    Rule("x*0", ("mul", "x", 0), _zeros, witness=lambda v: v("x") * 0.0),
    Rule("0/x", ("div", 0, "x"), _zeros, lambda b: nonzero(b["x"]),
         witness=lambda v: 0.0 / _pos(v), near_miss=lambda v: 0.0 / v("x")),
    Rule("x/x", ("div", "x", "x"), _ones, lambda b: nonzero(b["x"]),
         witness=lambda v: _pos(v) / _pos(v), near_miss=lambda v: v("x") / v("x")),
    Rule("x+x", ("add", "x", "x"), ("mul", "x", 2), witness=lambda v: v("x") + v("x")),
    Rule("|-x|", ("abs", ("neg", "x")), ("abs", "x"), witness=lambda v: A.abs(-v("x"))),
    # division and cancellation
    # (a per-element reciprocal is kept for a scalar y: one div, then multiplies)
    Rule("(1/y)*x", ("mul", ("div", 1, "y"), "x"), ("div", "x", "y"),
         lambda b: not (_is_scalar(b["y"]) and not _is_scalar(b["x"])),
         witness=lambda v: (1.0 / v("y", positive=True)) * v("x")),
    Rule("x*(s/y)", ("mul", "x", ("div", "s", "y")), ("mul", ("div", "x", "y"), "s"),
         lambda b: _is_scalar(b["s"]) and not _is_scalar(b["x"])
         and splat_value(b["s"]) is None,
         witness=lambda v: v("x") * (v("s", ()) / v("y", positive=True))),
    Rule("1/(1/x)", ("div", 1, ("div", 1, "x")), "x",
         witness=lambda v: 1.0 / (1.0 / v("x", positive=True))),
    Rule("(a/x)*x", ("mul", ("div", "a", "x"), "x"), "a", lambda b: nonzero(b["x"]),
         witness=lambda v: (v("a") / _pos(v)) * _pos(v),
         near_miss=lambda v: (v("a") / v("x")) * v("x")),
    Rule("(a/x)*(x*c)", ("mul", ("div", "a", "x"), ("mul", "x", "c")), ("mul", "a", "c"),
         lambda b: nonzero(b["x"]), witness=lambda v: (v("a") / _pos(v)) * (_pos(v) * v("c")),
         near_miss=lambda v: (v("a") / v("x")) * (v("x") * v("c"))),
    Rule("(x*c)/x", ("div", ("mul", "x", "c"), "x"), "c", lambda b: nonzero(b["x"]),
         witness=lambda v: (_pos(v) * v("c")) / _pos(v),
         near_miss=lambda v: (v("x") * v("c")) / v("x")),
    Rule("x/(1/y)", ("div", "x", ("div", 1, "y")), ("mul", "x", "y"),
         witness=lambda v: v("x") / (1.0 / v("y", positive=True))),
    # factoring and scalar hoisting
    Rule("a*s+b*s", ("add", ("mul", "a", "s"), ("mul", "b", "s")),
         ("mul", ("add", "a", "b"), "s"), witness=lambda v: v("a") * v("s") + v("b") * v("s")),
    Rule("a*s-b*s", ("sub", ("mul", "a", "s"), ("mul", "b", "s")),
         ("mul", ("sub", "a", "b"), "s"), witness=lambda v: v("a") * v("s") - v("b") * v("s")),
    Rule("a*-s+b*s", ("add", ("mul", "a", ("neg", "s")), ("mul", "b", "s")),
         ("mul", ("sub", "b", "a"), "s"),
         witness=lambda v: v("a") * -v("s") + v("b") * v("s")),
    Rule("(a-b)*(-c/y)", ("mul", ("sub", "a", "b"), ("div", "c", "y")),
         lambda b: build("mul", build("sub", b["b"], b["a"]),
                         build("div", scalar(-splat_value(b["c"]), b["_"].dtype), b["y"])),
         lambda b: negative_const(b["c"]),
         witness=lambda v: (v("a") - v("b")) * (-2.0 / v("y", positive=True)),
         near_miss=lambda v: (v("a") - v("b")) * (2.0 / v("y", positive=True))),
    Rule("(a-b)*(-c)", ("mul", ("sub", "a", "b"), "c"),
         lambda b: build("mul", build("sub", b["b"], b["a"]),
                         scalar(-splat_value(b["c"]), b["_"].dtype)),
         lambda b: negative_const(b["c"]), witness=lambda v: (v("a") - v("b")) * -3.0,
         near_miss=lambda v: (v("a") - v("b")) * 3.0),
    Rule("(a*s)*c", ("mul", ("mul", "a", "s"), "c"), _scalar_out,
         lambda b: _is_scalar(b["s"]) and not _is_scalar(b["a"]) and not _is_scalar(b["c"]),
         witness=lambda v: (v("a") * v("s", ())) * v("c")),
    # masks: a relu gradient multiplies by where(c, 1, 0); selecting is cheaper
    Rule("x*where(c,1,0)", ("mul", "x", ("where", "c", 1, 0)), ("where", "c", "x", 0),
         witness=lambda v: v("x") * A.where(v("c") > 0, 1.0, 0.0)),
    Rule("x*where(c,0,1)", ("mul", "x", ("where", "c", 0, 1)), ("where", "c", 0, "x"),
         witness=lambda v: v("x") * A.where(v("c") > 0, 0.0, 1.0)),
    # powers
    Rule("x**k", ("pow", "x", "p"), _pow_const, lambda b: splat_value(b["p"]) is not None,
         witness=_powers),
    Rule("x**0", ("pow", "x", 0), _ones, witness=lambda v: v("x") ** 0.0),
    # exp / log
    Rule("log(exp x)", ("log", ("exp", "x")), "x", witness=lambda v: A.log(A.exp(v("x")))),
    Rule("1/(1+exp(-x))", ("div", 1, ("add", ("exp", ("neg", "x")), 1)), ("sigmoid", "x"),
         witness=lambda v: 1.0 / (A.exp(-v("x")) + 1.0)),
    Rule("exp(log x)", ("exp", ("log", "x")), "x", lambda b: nonneg(b["x"]),
         witness=lambda v: A.exp(A.log(_pos(v))), near_miss=lambda v: A.exp(A.log(v("x")))),
    # reductions
    Rule("sum(broadcast)", ("sum", As("bc", ("broadcast_to", "x"))), _sum_of_broadcast,
         witness=_sums_of_broadcasts),
    Rule("sum(s*x)", ("sum", ("mul", "x", "s")), _sum_of_scaled,
         lambda b: _is_scalar(b["s"]) and not _is_scalar(b["x"]),
         witness=lambda v: A.sum(v("x") * v("s", ()), axis=0, keepdims=True)),
    Rule("sum(-x)", ("sum", ("neg", "x")), _sum_of_neg, witness=lambda v: A.sum(-v("x"))),
    Rule("sum(one_hot)", ("sum", As("oh", ("one_hot", "y"))), _sum_one_hot,
         witness=lambda v: A.sum(A.one_hot(v("y", labels=5), 5, v.dtype), axis=-1)),
    Rule("sum(where(one_hot, c, 0))", ("sum", ("where", As("oh", ("one_hot", "y")), "c", 0)),
         _sum_chosen, commute=False,
         witness=lambda v: A.sum(A.where(A.one_hot(v("y", labels=5), 5, "bool"), v("c", ()),
                                         0.0), axis=-1, keepdims=True)),
])

SIMPLIFY = compile_phase("simplify")


def simplify(outputs) -> list[Tensor]:
    """Apply the algebraic rules (with canonicalization and folding as cleanup)."""
    return rewrite(outputs, [SIMPLIFY, CANONICALIZE, FOLD])
