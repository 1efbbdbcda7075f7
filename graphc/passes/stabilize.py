"""Stabilize: rewrite numerically fragile forms into their stable equivalents.

Rules (same pattern language as ``simplify``):

* ``log(sigmoid x)``        -> ``-softplus(-x)``       (finite for x = -200 in float32)
* ``log(1 + x)``            -> ``log1p(x)``
* ``exp(x) - 1``            -> ``expm1(x)``
* ``log(sum(exp x))``       -> ``logsumexp(x)``        (max subtracted first)
* ``exp(x) / sum(exp x)``   -> ``softmax(x)``          (also the gradient of a naive
  logsumexp, which divides ``exp(x)`` by the sum)
* ``log(exp(x) / s)``       -> ``x - log(s)``          (``log(softmax(x))`` is log-softmax)
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

from .. import api as A
from ..ir import Tensor
from .rewrite import NamedRule, rewrite
from .simplify import SIMPLIFY, As, Rule, make_rule_fn


def _positive(x: Tensor) -> bool:
    from .simplify import positive
    return positive(x) or (x.op == "sum" and positive(x.inputs[0]))


def _shifted(x: Tensor) -> bool:
    """Is ``x`` already ``a - max(a)`` (the stable composites' form)?"""
    if x.op != "sub":
        return False
    m = x.inputs[1]
    if m.op == "stop_gradient":
        m = m.inputs[0]
    return m.op == "max" and m.inputs[0] is x.inputs[0]


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


RULES: list[Rule] = [
    Rule("log(sigmoid x)", ("log", ("sigmoid", "x")), lambda b: A.neg(A.softplus(A.neg(b["x"])))),
    Rule("log(1+x)", ("log", ("add", "x", 1)), ("log1p", "x")),
    Rule("exp(x)-1", ("add", ("exp", "x"), -1), ("expm1", "x")),
    Rule("exp(x)-1 (sub)", ("sub", ("exp", "x"), 1), ("expm1", "x")),
    Rule("log(sum(exp x))", ("log", As("s", ("sum", ("exp", "x")))), _logsumexp,
         lambda b: not _shifted(b["x"])),
    Rule("exp(x)/sum(exp x)", ("div", As("e", ("exp", "x")), "s"), _softmax),
    Rule("log(exp(x)/s)", ("log", ("div", ("exp", "x"), "s")), ("sub", "x", ("log", "s")),
         lambda b: _positive(b["s"])),
    Rule("sqrt(x*x)", ("sqrt", ("mul", "x", "x")), ("abs", "x")),
]

stabilize_rule = make_rule_fn(RULES)
STABILIZE = NamedRule("stabilize", stabilize_rule)


def stabilize(outputs) -> list[Tensor]:
    """Apply the stabilizing rewrites (algebraic rules, canonicalization, folding as cleanup)."""
    from .canonicalize import CANONICALIZE
    from .fold import FOLD
    return rewrite(outputs, [STABILIZE, SIMPLIFY, CANONICALIZE, FOLD])
