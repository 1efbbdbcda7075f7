"""Algebraic simplification: declarative pattern -> replacement rules, in one table.

A rule is ``Rule(name, pattern, replacement, guard)``:

* a *pattern* is a tuple ``(op, arg, ...)``; an argument is a nested pattern, a
  variable name (a ``str``: binds any node; the same name twice must be the same
  node), or a number (matches a constant filled with that value, also when
  reshaped or broadcast). Commutative ops match either operand order.
* a *replacement* is a template of the same form (variables, numbers, op tuples,
  numbers taking the matched node's dtype) or a function of the bindings ``b``
  (``b["_"]`` is the matched node) returning a node or ``None``;
  ``As(name, pattern)`` binds the node a sub-pattern matched.
* a *guard* is an optional predicate on the bindings.

Every replacement is checked by the rewrite engine to keep the node's dtype and
shape. Semantics: rules assume finite values, like a C compiler's
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

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import api as A
from ..ir import Tensor
from ..ops import OPS
from .rewrite import (NamedRule, broadcast_to, build, filled, reshape, rewrite, scalar,
                      splat_value, transpose)


@dataclass(frozen=True)
class Rule:
    name: str
    pattern: tuple
    replace: object
    guard: Callable[[dict], bool] | None = None


@dataclass(frozen=True)
class As:
    """A sub-pattern whose matched node is also bound to ``name``."""
    name: str
    pattern: tuple


# ---- matching ------------------------------------------------------------------------------

def _matches(pat, node: Tensor, b: dict):
    """Every way ``node`` matches ``pat`` extending bindings ``b`` (commutative ops give up
    to two), as new dicts. Patterns are a few levels deep, so recursion here is bounded."""
    if isinstance(pat, str):
        bound = b.get(pat)
        if bound is None:
            yield {**b, pat: node}
        elif bound is node:
            yield b
        return
    if isinstance(pat, As):
        for b2 in _matches(pat.pattern, node, b):
            yield from _matches(pat.name, node, b2)
        return
    if isinstance(pat, (int, float)):
        v = splat_value(node)
        if v is not None and v == pat:
            yield b
        return
    op, args = pat[0], pat[1:]
    if node.op != op or len(node.inputs) != len(args):
        return
    yield from _match_args(args, node.inputs, b)
    if len(args) == 2 and OPS[op].commutative and node.inputs[0] is not node.inputs[1]:
        yield from _match_args(args, node.inputs[::-1], b)


def _match_args(args: tuple, inputs: tuple, b: dict):
    if not args:
        yield b
        return
    for b2 in _matches(args[0], inputs[0], b):
        yield from _match_args(args[1:], inputs[1:], b2)


def _build(tpl, b: dict, like: Tensor) -> Tensor:
    if callable(tpl) and not isinstance(tpl, (str, tuple)):
        return tpl(b)
    if isinstance(tpl, str):
        return b[tpl]
    if isinstance(tpl, (int, float)):
        return scalar(tpl, like.dtype)
    return build(tpl[0], *[_build(t, b, like) for t in tpl[1:]])


_CONST = "<const>"


def _needs(pattern: tuple) -> tuple:
    """What each operand's op must be for ``pattern`` to have a chance (a cheap pre-check)."""
    out = []
    for p in pattern[1:]:
        p = p.pattern if isinstance(p, As) else p
        if isinstance(p, tuple):
            out.append(p[0])
        elif isinstance(p, (int, float)):
            out.append(_CONST)
        else:
            out.append(None)
    return tuple(out)


def _may_match(needs: tuple, inputs: tuple) -> bool:
    for need, i in zip(needs, inputs):
        if need is None:
            continue
        if need is _CONST:
            if i.op not in ("constant", "broadcast_to", "reshape"):
                return False
        elif i.op != need:
            return False
    return True


def make_rule_fn(rules: list[Rule]) -> Callable[[Tensor], Tensor | None]:
    """A rewrite rule trying ``rules`` (indexed by their root op) in order."""
    by_op: dict[str, list[tuple[Rule, tuple, bool]]] = {}
    for r in rules:
        commutative = len(r.pattern) == 3 and OPS[r.pattern[0]].commutative
        by_op.setdefault(r.pattern[0], []).append((r, _needs(r.pattern), commutative))

    # which rules may match depends only on the ops of a node and of its operands
    candidates: dict[tuple, list[Rule]] = {}

    def rules_for(n: Tensor) -> list[Rule]:
        key = (n.op, *[i.op for i in n.inputs])
        found = candidates.get(key)
        if found is None:
            ins = n.inputs
            found = candidates[key] = [
                r for r, needs, commutative in by_op.get(n.op, ())
                if _may_match(needs, ins) or (commutative and _may_match(needs, ins[::-1]))]
        return found

    def apply_rules(n: Tensor) -> Tensor | None:
        for r in rules_for(n):
            for b in _matches(r.pattern, n, {"_": n}):
                if r.guard is not None and not r.guard(b):
                    continue
                out = _build(r.replace, b, n)
                if out is not None and out is not n:
                    return out
        return None

    apply_rules.rules = rules  # type: ignore[attr-defined]
    return apply_rules


# ---- guards and facts ----------------------------------------------------------------------

def positive(x: Tensor, depth: int = 16) -> bool:
    """Provably > 0 (mathematically) for every input; sums, products and quotients are
    looked into ``depth`` levels deep (a bound, not a recursion hazard on deep graphs)."""
    if OPS[x.op].output_sign == "positive":
        return True
    v = splat_value(x)
    if v is not None:
        return bool(v > 0)
    if x.op in ("mul", "div", "add") and depth > 0:
        return all(positive(i, depth - 1) for i in x.inputs)
    return False


def nonneg(x: Tensor) -> bool:
    if OPS[x.op].output_sign == "nonneg" or positive(x):
        return True
    if x.op == "mul" and x.inputs[0] is x.inputs[1]:
        return True
    v = splat_value(x)
    return v is not None and bool(v >= 0)


def nonzero(x: Tensor) -> bool:
    if positive(x):
        return True
    v = splat_value(x)
    return v is not None and bool(v != 0)


def _negative_const(x: Tensor) -> bool:
    v = splat_value(x)
    return v is not None and bool(v < 0)


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


def _transpose2(b):
    inner, outer = b["t"], b["_"]
    p, q = inner.attr("perm"), outer.attr("perm")
    return transpose(b["x"], tuple(p[k] for k in q))


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
        out = build("mul", y, A._size(count, n.dtype))
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


def _scalar_out(b):
    return build("mul", build("mul", b["a"], b["c"]), b["s"])


# ---- the table -------------------------------------------------------------------------------

RULES: list[Rule] = [
    # identities
    Rule("x*1", ("mul", "x", 1), "x"),
    Rule("x+0", ("add", "x", 0), "x"),
    Rule("x-0", ("sub", "x", 0), "x"),
    Rule("0-x", ("sub", 0, "x"), ("neg", "x")),
    Rule("x/1", ("div", "x", 1), "x"),
    Rule("--x", ("neg", ("neg", "x")), "x"),
    Rule("x-x", ("sub", "x", "x"), _zeros),
    Rule("x*0", ("mul", "x", 0), _zeros),
    Rule("0/x", ("div", 0, "x"), _zeros, lambda b: nonzero(b["x"])),
    Rule("x/x", ("div", "x", "x"), _ones, lambda b: nonzero(b["x"])),
    Rule("x+x", ("add", "x", "x"), ("mul", "x", 2)),
    Rule("|-x|", ("abs", ("neg", "x")), ("abs", "x")),
    Rule("a+-b", ("add", "a", ("neg", "b")), ("sub", "a", "b")),
    Rule("a-(-b)", ("sub", "a", ("neg", "b")), ("add", "a", "b")),
    # division and cancellation
    # (a per-element reciprocal is kept for a scalar y: one div, then multiplies)
    Rule("(1/y)*x", ("mul", ("div", 1, "y"), "x"), ("div", "x", "y"),
         lambda b: not (_is_scalar(b["y"]) and not _is_scalar(b["x"]))),
    Rule("x*(s/y)", ("mul", "x", ("div", "s", "y")), ("mul", ("div", "x", "y"), "s"),
         lambda b: _is_scalar(b["s"]) and not _is_scalar(b["x"])
         and splat_value(b["s"]) is None),
    Rule("1/(1/x)", ("div", 1, ("div", 1, "x")), "x"),
    Rule("(a/x)*x", ("mul", ("div", "a", "x"), "x"), "a", lambda b: nonzero(b["x"])),
    Rule("(a/x)*(x*c)", ("mul", ("div", "a", "x"), ("mul", "x", "c")), ("mul", "a", "c"),
         lambda b: nonzero(b["x"])),
    Rule("(x*c)/x", ("div", ("mul", "x", "c"), "x"), "c", lambda b: nonzero(b["x"])),
    Rule("x/(1/y)", ("div", "x", ("div", 1, "y")), ("mul", "x", "y")),
    # factoring and scalar hoisting
    Rule("a*s+b*s", ("add", ("mul", "a", "s"), ("mul", "b", "s")),
         ("mul", ("add", "a", "b"), "s")),
    Rule("a*s-b*s", ("sub", ("mul", "a", "s"), ("mul", "b", "s")),
         ("mul", ("sub", "a", "b"), "s")),
    Rule("a*-s+b*s", ("add", ("mul", "a", ("neg", "s")), ("mul", "b", "s")),
         ("mul", ("sub", "b", "a"), "s")),
    Rule("(a-b)*(-c/y)", ("mul", ("sub", "a", "b"), ("div", "c", "y")),
         lambda b: build("mul", build("sub", b["b"], b["a"]),
                         build("div", scalar(-splat_value(b["c"]), b["_"].dtype), b["y"])),
         lambda b: _negative_const(b["c"])),
    Rule("(a-b)*(-c)", ("mul", ("sub", "a", "b"), "c"),
         lambda b: build("mul", build("sub", b["b"], b["a"]),
                         scalar(-splat_value(b["c"]), b["_"].dtype)),
         lambda b: _negative_const(b["c"])),
    Rule("(a*s)*c", ("mul", ("mul", "a", "s"), "c"), _scalar_out,
         lambda b: _is_scalar(b["s"]) and not _is_scalar(b["a"]) and not _is_scalar(b["c"])),
    # masks: a relu gradient multiplies by where(c, 1, 0); selecting is cheaper
    Rule("x*where(c,1,0)", ("mul", "x", ("where", "c", 1, 0)), ("where", "c", "x", 0)),
    Rule("x*where(c,0,1)", ("mul", "x", ("where", "c", 0, 1)), ("where", "c", 0, "x")),
    # powers
    Rule("x**k", ("pow", "x", "p"), _pow_const, lambda b: splat_value(b["p"]) is not None),
    Rule("x**0", ("pow", "x", 0), _ones),
    # exp / log
    Rule("log(exp x)", ("log", ("exp", "x")), "x"),
    Rule("1/(1+exp(-x))", ("div", 1, ("add", ("exp", ("neg", "x")), 1)), ("sigmoid", "x")),
    Rule("exp(log x)", ("exp", ("log", "x")), "x", lambda b: nonneg(b["x"])),
    # shapes
    Rule("T(T x)", ("transpose", As("t", ("transpose", "x"))), _transpose2),
    Rule("sum(broadcast)", ("sum", As("bc", ("broadcast_to", "x"))), _sum_of_broadcast),
    Rule("sum(s*x)", ("sum", ("mul", "x", "s")), _sum_of_scaled,
         lambda b: _is_scalar(b["s"]) and not _is_scalar(b["x"])),
    Rule("sum(-x)", ("sum", ("neg", "x")), _sum_of_neg),
    Rule("sum(one_hot)", ("sum", As("oh", ("one_hot", "y"))), _sum_one_hot),
]

simplify_rule = make_rule_fn(RULES)
SIMPLIFY = NamedRule("simplify", simplify_rule)


def simplify(outputs) -> list[Tensor]:
    """Apply the algebraic rules (with canonicalization and folding as cleanup)."""
    from .canonicalize import CANONICALIZE
    from .fold import FOLD
    return rewrite(outputs, [SIMPLIFY, CANONICALIZE, FOLD])
