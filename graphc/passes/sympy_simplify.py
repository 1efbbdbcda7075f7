"""SymPy-backed simplification of small elementwise clusters, on a strict budget.

A *cluster* is a tree of elementwise float nodes (``add sub mul div neg pow exp log
sqrt tanh sin cos abs``) in which every inner node has exactly one user; nodes used
more than once (a forward ``tanh`` reused by its gradient, say) are the cluster's
leaves and are never duplicated. Each cluster is converted to SymPy through the
ops' declared ``sympy`` forms, simplified, converted back, and accepted only when
the cost model (the sum of ``OpDef.cost`` over the cluster's nodes: transcendental
> div > mul > add) says the result is strictly cheaper.

Budgets keep compile time bounded on large graphs by counts, never by the clock, so
the same graph always compiles to the same code: clusters above ``max_ops`` nodes
are skipped, at most ``max_clusters`` are examined per run (verdicts are cached by
the cluster's formula, so repeated layers cost one SymPy call), and only clusters
up to ``simplify_ops`` nodes get the full ``sympy.simplify`` (the others
``cancel`` and ``factor_terms``), which stays fast at that size.

>>> import graphc as gc
>>> from graphc.passes.sympy_simplify import sympy_simplify
>>> x = gc.placeholder("x", (3,))
>>> y = sympy_simplify([gc.exp(x) * gc.exp(-x) + x])[0]
>>> print(gc.show(y))
graph(x: f32[3]) {
  t1: f32[3] = add(x, 1.0)
  return t1
}
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import api as A
from ..ir import Tensor, as_list, topo_order
from ..bind import OPS
from . import sympy_verdicts as verdicts
from .rewrite import rewrite, scalar, splat_value, unbound_dims

CLUSTER_OPS = frozenset(("add", "sub", "mul", "div", "neg", "pow", "exp", "log", "sqrt",
                         "tanh", "sin", "cos", "abs"))


@dataclass
class SympyBudget:
    """Limits of one run, all counts: the result is deterministic (same graph, same output)."""
    max_ops: int = 8           # clusters bigger than this are skipped
    min_ops: int = 3           # smaller ones cannot get cheaper in practice
    max_clusters: int = 64     # clusters examined per run (cached or not: same graph, same
                               # result whatever ran before)
    simplify_ops: int = 6      # full sympy.simplify only up to this size (else cheap ones)
    stats: dict = field(default_factory=dict)


_cache: dict[tuple, object] = {}   # a cluster's formula (as data) -> its best recipe or None


def _cost(root: Tensor, leaves: set[int]) -> float:
    """Sum of op costs of the nodes between ``root`` and ``leaves`` (shared nodes once)."""
    seen: set[int] = set()
    total = 0.0
    stack = [root]
    while stack:
        n = stack.pop()
        if id(n) in seen or id(n) in leaves or not n.inputs:
            continue
        seen.add(id(n))
        total += OPS[n.op].cost
        stack.extend(n.inputs)
    return total


def _collect(root: Tensor, users: dict[int, int], outputs: set[int], max_ops: int):
    """The cluster under ``root``: (inner nodes, leaves), or None if it is too big."""
    inner, leaves = [], []
    stack = [root]
    while stack:
        n = stack.pop()
        inner.append(n)
        if len(inner) > max_ops:
            return None
        for i in dict.fromkeys(n.inputs):  # x*x: x once (it has one user, this node)
            if (i.op in CLUSTER_OPS and users[id(i)] == 1 and id(i) not in outputs
                    and i.dtype == root.dtype):
                stack.append(i)
            elif i.op != "constant" or splat_value(i) is None:
                leaves.append(i)
    return inner, leaves


def _number(v, sp):
    v = float(v)
    if v.is_integer():
        return sp.Integer(int(v))
    if (2 * v).is_integer():
        return sp.Rational(int(2 * v), 2)
    return sp.Float(v)


def _to_sympy(inner: list[Tensor], leaves: list[Tensor], sp):
    """The cluster's formula (``inner`` is in DFS pre-order from the root) and symbol -> the
    index of its leaf among the distinct leaves."""
    symbols = {}
    env: dict[int, object] = {}
    for k, leaf in enumerate(dict.fromkeys(leaves)):
        sym = sp.Symbol(f"v{k}", real=True)
        env[id(leaf)] = sym
        symbols[sym] = k
    for n in reversed(inner):  # a tree: children come after their parent in pre-order
        args = []
        for i in n.inputs:
            if id(i) not in env:
                env[id(i)] = _number(splat_value(i), sp)
            args.append(env[id(i)])
        to_sympy = OPS[n.op].sympy
        assert to_sympy is not None  # only ops with a SymPy form are collected here
        env[id(n)] = to_sympy(*args)
    return env[id(inner[0])], symbols


def _recipe(e, leaves: dict, sp):
    """A SymPy formula as plain data: ``("v", j)`` the cluster's j-th leaf, ``("c", x)`` a
    number, ``(op, *operands)`` an op of ``BUILDERS`` (small formula: bounded recursion).
    Plain data builds the graph without SymPy, and keeps in the on-disk verdict cache."""
    if e in leaves:
        return ("v", leaves[e])
    if e.is_Number:
        return ("c", float(e))
    if e.is_Add:
        pos: list = []
        negs: list = []
        for t in sorted(e.args, key=lambda t: t.is_Number):  # numbers last: x + 1
            c, rest = t.as_coeff_Mul()
            (negs if c.is_negative else pos).append(-t if c.is_negative else t)
        out = None
        for t in pos:
            g = _recipe(t, leaves, sp)
            out = g if out is None else ("add", out, g)
        for t in negs:
            g = _recipe(t, leaves, sp)
            out = ("neg", g) if out is None else ("sub", out, g)
        assert out is not None  # a SymPy sum has terms
        return out
    if e.is_Mul:
        c, rest = e.as_coeff_Mul()
        if c == -1:
            return ("neg", _recipe(rest, leaves, sp))
        num, den = [], []
        for f in e.args:
            b, x = f.as_base_exp()
            if x.is_Number and x.is_negative:
                den.append(b ** (-x))
            else:
                num.append(f)
        top = None
        for f in num:
            g = _recipe(f, leaves, sp)
            top = g if top is None else ("mul", top, g)
        if top is None:
            top = ("c", 1.0)
        for f in den:
            top = ("div", top, _recipe(f, leaves, sp))
        return top
    if e.is_Pow:
        b, x = e.args
        base = _recipe(b, leaves, sp)
        if x == sp.Rational(1, 2):
            return ("sqrt", base)
        if x == -1:
            return ("div", ("c", 1.0), base)
        if x == 2:
            return ("mul", base, base)
        if b == sp.E:
            return ("exp", _recipe(x, leaves, sp))
        return ("pow", base, _recipe(x, leaves, sp))
    funcs = {sp.exp: "exp", sp.log: "log", sp.tanh: "tanh", sp.sin: "sin", sp.cos: "cos",
             sp.Abs: "abs"}
    f = funcs.get(e.func)
    if f is not None and len(e.args) == 1:
        return (f, _recipe(e.args[0], leaves, sp))
    raise ValueError(f"no graph form for {e.func}")


BUILDERS = {"add": A.add, "sub": A.sub, "neg": A.neg, "mul": A.mul, "div": A.div,
            "sqrt": A.sqrt, "exp": A.exp, "pow": A.pow, "log": A.log, "tanh": A.tanh,
            "sin": A.sin, "cos": A.cos, "abs": A.abs}


def _build(recipe, leaves: list[Tensor], dtype) -> Tensor:
    """The graph of a ``_recipe`` over the cluster's (distinct, ordered) leaves."""
    kind = recipe[0]
    if kind == "v":
        return leaves[recipe[1]]
    if kind == "c":
        return scalar(recipe[1], dtype)
    return BUILDERS[kind](*(_build(r, leaves, dtype) for r in recipe[1:]))


def _cluster_key(inner: list[Tensor], leaves: list[Tensor]) -> tuple:
    """The cluster's formula as plain data (ops, operand positions, constants), so a repeated
    cluster is recognised before any SymPy work."""
    index = {id(n): k for k, n in enumerate(inner)}
    leaf_index = {id(leaf): j for j, leaf in enumerate(dict.fromkeys(leaves))}
    parts = []
    for n in inner:
        args: list[tuple[str, float]] = []
        for i in n.inputs:
            if id(i) in index:
                args.append(("n", index[id(i)]))
            elif id(i) in leaf_index:
                args.append(("v", leaf_index[id(i)]))
            else:
                args.append(("c", float(splat_value(i))))
        parts.append((n.op, tuple(args)))
    return inner[0].dtype.str, tuple(parts)


def _best_form(e, symbols: dict, leaves: list[Tensor], root: Tensor, sp, full: bool):
    """The recipe of the cheapest SymPy rewrite of formula ``e`` (``symbols``: symbol ->
    leaf index), or None if none is cheaper."""
    candidates = [sp.factor_terms(e), sp.cancel(e)]
    if full:
        candidates.append(sp.simplify(e))
    leaf_ids = {id(x) for x in leaves}
    best, best_cost = None, _cost(root, leaf_ids)
    for cand in candidates:
        recipe = _recipe(cand, symbols, sp)
        g = _build(recipe, leaves, root.dtype)
        c = _cost(g, leaf_ids)
        # a result narrower than the cluster would need a broadcast to the cluster's
        # shape; to a run-time shape that could lose the input that binds its size
        keeps_shape = g.dims == root.dims or all(isinstance(d, int) for d in root.dims)
        if c < best_cost and g.dtype == root.dtype and keeps_shape:
            best, best_cost = recipe, c
    return best


def sympy_simplify(outputs, budget: SympyBudget | None = None,
                   order: list[Tensor] | None = None, cleanup=None, memo=None,
                   strict: bool = False, check_dims: bool = True) -> list[Tensor]:
    """Simplify elementwise clusters of ``outputs`` with SymPy within ``budget``.

    ``cleanup`` rules (and their ``memo``) tidy the accepted replacements; the
    pipeline passes canonicalization and folding."""
    budget = budget or SympyBudget()
    start = time.perf_counter()
    outs = as_list(outputs)
    order = topo_order(outs) if order is None else order
    users: dict[int, int] = {id(n): 0 for n in order}
    for n in order:
        ins = n.inputs
        if len(ins) == 1:
            users[id(ins[0])] += 1
        else:
            for k in {id(i) for i in ins}:  # x*x uses x once: it can stay inside a cluster
                users[k] += 1
    out_ids = {id(o) for o in outs}
    subst: dict[int, Tensor] = {}
    tried = accepted = skipped = over = 0
    for n in order:
        if n.op not in CLUSTER_OPS or n.dtype.kind != "f":
            continue
        if users[id(n)] == 1 and id(n) not in out_ids:
            continue  # an inner node: its cluster is handled at its root
        got = _collect(n, users, out_ids, budget.max_ops)
        if got is None:
            skipped += 1
            continue
        inner, leaves = got
        if len(inner) < budget.min_ops:
            continue
        if tried >= budget.max_clusters:
            over += 1
            continue
        tried += 1
        key = _cluster_key(inner, leaves)
        distinct = list(dict.fromkeys(leaves))
        try:
            best = _cache[key] if key in _cache else verdicts.load(key)
            if best is verdicts.MISSING:
                import sympy as sp  # here: only a cluster never seen before pays for SymPy
                e, symbols = _to_sympy(inner, leaves, sp)
                best = _best_form(e, symbols, distinct, n, sp, len(inner) <= budget.simplify_ops)
                verdicts.store(key, best)
            _cache[key] = best
            if best is not None:
                subst[id(n)] = _build(best, distinct, n.dtype)
                accepted += 1
        except Exception:  # a formula with no graph form (or a SymPy failure): keep it
            continue
    budget.stats.update(tried=tried, accepted=accepted, skipped=skipped, over_budget=over,
                        seconds=time.perf_counter() - start)
    if not subst:
        return outs
    result = rewrite(outs, cleanup, substitute=subst, memo=memo, order=order, strict=strict,
                     check_dims=check_dims)
    if check_dims and unbound_dims(topo_order(result)) - unbound_dims(order):
        return outs  # a cluster's input was the only source of a run-time size still used
    return result
