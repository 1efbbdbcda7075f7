"""Stabilize: rewrite numerically fragile forms into their stable equivalents.

Rules (same pattern language as ``simplify``):

* ``log(sigmoid x)``        -> ``-softplus(-x)``       (finite for x = -200 in float32)
* ``log(1 + x)``            -> ``log1p(x)``
* ``exp(x) - 1``            -> ``expm1(x)``
* ``log(sum(exp x))``       -> ``logsumexp(x)``        (max subtracted first)
* ``exp(x) / sum(exp x)``   -> ``softmax(x)``          (also the gradient of a naive
  logsumexp, which divides ``exp(x)`` by the sum)
* ``log(exp(x) / s)``       -> ``x - log(s)``          (``log(softmax(x))`` is log-softmax)
* ``1 - erf(x)``            -> ``erfc(x)``             (and ``1 - erfc(x)`` -> ``erf(x)``)
* ``sqrt(x*x)``             -> ``abs(x)``

Gradients of the stable forms come out right too because the rewritten graphs
share the cancellations ``simplify`` performs (``(1/s) * s*(1-s)`` -> ``1-s`` for
``log(sigmoid x)``), which run with this pass as cleanup.

>>> import graphc as gc
>>> from graphc.passes.stabilize import stabilize
>>> x = gc.placeholder("x", ())
>>> y = stabilize([gc.log(gc.sigmoid(x))])[0]
>>> float(gc.evaluate(y, {"x": -200.0}))
-200.0
"""
from __future__ import annotations

import math

import numpy as np

from .. import api as A
from ..ir import Tensor
from ..rules import As, Rule, register_rules
from .canonicalize import CANONICALIZE
from .facts import max_shift, positive
from .fold import FOLD
from .patterns import compile_phase
from .rewrite import rewrite
from .simplify import SIMPLIFY


def _positive(x: Tensor) -> bool:
    return positive(x) or (x.op == "sum" and positive(x.inputs[0]))


def _shifted(x: Tensor) -> bool:
    """Is ``x`` already ``a - max(a)`` (the stable composites' form)?"""
    if x.op != "sub":
        return False
    m = max_shift(x.inputs[1])
    return m is not None and m.inputs[0] is x.inputs[0]


def _logsumexp(b):
    s = b["s"]
    return A.logsumexp(b["x"], s.attr("axes"), s.attr("keepdims"))


def _keepdims_sum(node: Tensor, e: Tensor):
    """If ``node`` is ``sum(e, axes, keepdims=True)`` (or the same reshaped to it), its axes."""
    if node.op == "reshape":
        inner = node.inputs[0]
        if inner.op != "sum" or inner.attr("keepdims") or inner.inputs[0] is not e:
            return None
        axes = inner.attr("axes")
        want = tuple(1 if k in axes else d for k, d in enumerate(e.dims))
        return axes if node.dims == want else None
    if node.op == "sum" and node.attr("keepdims") and node.inputs[0] is e:
        return node.attr("axes")
    return None


def _softmax(b):
    axes = _keepdims_sum(b["s"], b["e"])
    if axes is None or _shifted(b["x"]):
        return None
    return A.softmax(b["x"], axes)


# ---- the table: each rule's stress inputs break the naive form -------------------------------

def _big(dtype) -> float:
    """A value whose square overflows ``dtype``."""
    return float(np.sqrt(np.finfo(dtype).max)) * 4


def _log_sigmoid(x):
    return np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))


def _softmax_ref(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


RULES = register_rules("stabilize", [
    Rule("log(sigmoid x)", ("log", ("sigmoid", "x")), lambda b: A.neg(A.softplus(A.neg(b["x"]))),
         witness=lambda v: A.log(A.sigmoid(v("x"))),
         stress=lambda dt: ({"x": -800.0}, lambda f: _log_sigmoid(f["x"]))),
    Rule("log(1+x)", ("log", ("add", "x", 1)), ("log1p", "x"),
         witness=lambda v: A.log(v("x", positive=True) + 1.0),
         stress=lambda dt: ({"x": 1e-10}, lambda f: np.log1p(f["x"]))),
    Rule("exp(x)-1", ("add", ("exp", "x"), -1), ("expm1", "x"),
         witness=lambda v: A.exp(v("x")) + -1.0,
         stress=lambda dt: ({"x": 1e-10}, lambda f: np.expm1(f["x"]))),
    Rule("exp(x)-1 (sub)", ("sub", ("exp", "x"), 1), ("expm1", "x"),
         witness=lambda v: A.exp(v("x")) - 1.0,
         stress=lambda dt: ({"x": -1e-10}, lambda f: np.expm1(f["x"]))),
    Rule("log(sum(exp x))", ("log", As("s", ("sum", ("exp", "x")))), _logsumexp,
         lambda b: not _shifted(b["x"]),
         witness=lambda v: A.log(A.sum(A.exp(v("x")), axis=-1)),
         stress=lambda dt: ({"x": [1000.0, 999.0, 998.0, 990.0]},
                            lambda f: np.logaddexp.reduce(f["x"], axis=-1))),
    Rule("exp(x)/sum(exp x)", ("div", As("e", ("exp", "x")), "s"), _softmax,
         witness=lambda v: A.exp(v("x")) / A.sum(A.exp(v("x")), axis=-1, keepdims=True),
         stress=lambda dt: ({"x": [1000.0, 999.0, 998.0, 990.0]},
                            lambda f: _softmax_ref(f["x"]))),
    Rule("log(exp(x)/s)", ("log", ("div", ("exp", "x"), "s")), ("sub", "x", ("log", "s")),
         lambda b: _positive(b["s"]),
         witness=lambda v: A.log(A.exp(v("x")) / A.exp(v("s"))),
         near_miss=lambda v: A.log(A.exp(v("x")) / v("s")),
         stress=lambda dt: ({"x": 1000.0, "s": 2.0}, lambda f: f["x"] - f["s"])),
    Rule("1-erf(x)", ("sub", 1, ("erf", "x")), ("erfc", "x"),
         witness=lambda v: 1.0 - A.erf(v("x")),
         stress=lambda dt: ({"x": 6.0}, lambda f: np.vectorize(math.erfc)(f["x"]))),
    Rule("1-erfc(x)", ("sub", 1, ("erfc", "x")), ("erf", "x"),
         witness=lambda v: 1.0 - A.erfc(v("x")),
         stress=lambda dt: ({"x": 1e-10}, lambda f: np.vectorize(math.erf)(f["x"]))),
    Rule("sqrt(x*x)", ("sqrt", ("mul", "x", "x")), ("abs", "x"),
         witness=lambda v: A.sqrt(v("x") * v("x")),
         stress=lambda dt: ({"x": -_big(dt)}, lambda f: np.abs(f["x"]))),
])

STABILIZE = compile_phase("stabilize")


def stabilize(outputs) -> list[Tensor]:
    """Apply the stabilizing rewrites (algebraic rules, canonicalization, folding as cleanup)."""
    return rewrite(outputs, [STABILIZE, SIMPLIFY, CANONICALIZE, FOLD])
