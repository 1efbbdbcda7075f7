"""Autodiff as a graph transform: reverse mode (``grad``, ``hvp``) and forward mode (``jvp``).

Both read each op's rules from its declaration in ``graphc.ops``: elementwise ops
declare their local partial derivatives (reverse mode multiplies the cotangent by
them and sums away broadcast axes; forward mode sums partial * tangent), the other
ops declare ``vjp``/``jvp`` directly. The results are ordinary graph nodes: they
print (``gc.expr``, ``str``), simplify, compile, and differentiate again.

Conventions at points where a derivative is not defined (tested in
``tests/test_autodiff_modes.py``):

* ``maximum(a, b)`` / ``minimum(a, b)`` at a tie ``a == b``: each side gets half the
  gradient (0.5 / 0.5, the mean of the one-sided derivatives; the sum stays 1).
* ``max``/``min`` reductions: tied maxima share the gradient evenly (1/k each).
* ``abs`` at 0 has gradient ``sign(0) = 0``; ``relu`` at 0 has gradient 0 (as PyTorch).
* comparisons, ``sign``, casts to integers, ``one_hot`` and ``stop_gradient`` pass
  no gradient.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .. import api as A
from ..errors import GradError
from ..ir import (Tensor, as_list, broadcast_dims, collector_paused, format_shape, topo_order,
                  user_location)
from ..bind import bind, build_site, built_at
from ..ops import OPS, unbroadcast


def _check_float(t: Tensor, what: str) -> None:
    if not isinstance(t, Tensor):
        raise GradError(f"{what}: expected a Tensor, got {type(t).__name__} ({user_location()})")
    if t.dtype.kind != "f":
        who = t.name or t.op
        raise GradError(f"{what}: cannot differentiate with respect to {who!r} of integer/bool "
                        f"dtype {t.dtype} ({user_location()})")


def _zeros(t: Tensor) -> Tensor:
    """Zeros shaped like ``t``. A run-time size is only known from a placeholder fed at
    call time, so for those the zeros are built from ``t`` itself (NaN-safe: both
    branches of the ``where`` are zero)."""
    zero = A.constant(0, t.dtype)
    if all(isinstance(d, int) for d in t.dims):
        return A.broadcast_to(zero, t.dims)
    return A.where(A.equal(t, t), zero, zero)


def _const_scalar(t: Tensor):
    """The value ``t`` holds everywhere if it is a constant of equal elements (or a
    broadcast of a 0-d constant), else None."""
    if t.op == "broadcast_to" and t.inputs[0].ndim == 0:
        t = t.inputs[0]
    if t.op != "constant":
        return None
    flat = t.attr("value").array.reshape(-1)
    return flat[0].item() if flat.size and (flat == flat[0]).all() else None


def _folded(value, dtype) -> Tensor:
    """A 0-d constant of ``dtype`` holding a product of constants folded here: one beyond
    the dtype's range is inf, as the run would compute, and graphc's own arithmetic does
    not warn about it."""
    with np.errstate(over="ignore", under="ignore"):
        return A.constant(value, dtype)


def _filled(value, like: Tensor) -> Tensor:
    """``value`` everywhere in ``like``'s shape (a 0-d constant, broadcast if needed)."""
    c = _folded(value, like.dtype)
    return c if like.ndim == 0 else A.broadcast_to(c, like.dims)


def _neg(g: Tensor) -> Tensor:
    """``-g``, with the sign folded into a constant or a constant coefficient."""
    v = _const_scalar(g)
    if v is not None:
        return _filled(-v, g)
    if g.op == "neg":
        return g.inputs[0]
    if g.op in ("mul", "div") and g.inputs[0].ndim == 0 and g.inputs[0].op == "constant" \
            and g.inputs[1].dims == g.dims:
        c = A.constant(-g.inputs[0].value, g.inputs[0].dtype)
        return c * g.inputs[1] if g.op == "mul" else c / g.inputs[1]
    return -g


def _negated(t: Tensor, depth: int = 4) -> Tensor | None:
    """``u`` with ``t == -u`` exactly (IEEE negation is exact), if ``t`` is visibly
    negative: ``-u``, ``c * x`` or ``c / x`` with a constant ``c < 0``, or a product or
    quotient whose left factor is (looking a few levels down)."""
    if t.op == "neg":
        return t.inputs[0]
    if t.op in ("mul", "div") and depth:
        a, b = t.inputs
        if a.op == "constant" and a.ndim == 0 and a.value < 0 and b.dims == t.dims:
            c = A.constant(-a.value, a.dtype)
            return c * b if t.op == "mul" else c / b
        na = _negated(a, depth - 1) if a.dims == t.dims else None
        if na is not None:
            return na * b if t.op == "mul" else na / b
    return None


def _add(a: Tensor, b: Tensor) -> Tensor:
    """``a + b`` for two contributions of the same shape; ``a + -u`` is written ``a - u``."""
    nb = _negated(b)
    if nb is not None:
        return a - nb
    na = _negated(a)
    if na is not None:
        return b - na
    return a + b


def _split_coefficient(p: Tensor):
    """``(c, x)`` if ``p`` is ``c * x`` with a 0-d constant ``c``, else ``(1, p)``."""
    if p.op == "mul":
        for k in (0, 1):
            c, x = p.inputs[k], p.inputs[1 - k]
            if c.ndim == 0 and c.op == "constant" and x.dims == p.dims:
                return c.value.item(), x
    return 1, p


def _scale(g: Tensor, partial) -> Tensor:
    """``g * partial``, written the way a person would: constants folded (``3 * (3 * x)``
    is ``9 * x``), ``1 * x`` dropped, ``g * (1 / x)`` as ``g / x``. Gradient graphs stay
    readable (``gc.expr``, ``str``) and small before any simplification pass runs."""
    if isinstance(partial, (int, float)):
        if partial == 1:
            return g
        if partial == -1:
            return _neg(g)
        partial = A.constant(partial, g.dtype)
    v = _const_scalar(g)
    if v is not None:  # a constant cotangent (the seed, or a folded one)
        c = _const_scalar(partial) if partial.ndim == 0 else None
        if c is not None:
            return _filled(v * c, g)
        if partial.op == "div" and partial.inputs[0].ndim == 0 and partial.dims == g.dims \
                and _const_scalar(partial.inputs[0]) is not None:
            k = v * _const_scalar(partial.inputs[0])
            return _folded(k, g.dtype) / partial.inputs[1]
        if partial.dims == g.dims:
            c, x = _split_coefficient(partial)
            k = v * c
            return x if k == 1 else (-x if k == -1 else _folded(k, g.dtype) * x)
    if partial.op == "div" and partial.inputs[0].ndim == 0 and \
            _const_scalar(partial.inputs[0]) == 1:
        return g / partial.inputs[1]
    return g * partial


def _fit(v: Tensor, dims) -> Tensor | None:
    """``v`` broadcast to ``dims`` (a seed or tangent for a tensor of that shape), or None
    if it does not fit. A known size may stand for a run-time one (a (4, 3) seed for a
    (None, 3) output): the shape is relabelled, and the sizes are checked at run time."""
    dims = tuple(dims)
    target = broadcast_dims([v.dims, dims])
    if target is None or v.ndim > len(dims) or not all(
            a == b or isinstance(b, str) for a, b in zip(target, dims)):
        return None
    if target != v.dims:
        v = A.broadcast_to(v, target)
    if v.dims != dims:
        v = bind("reshape", v, shape=dims)
    return v


def _dependents(order: list[Tensor], sources: Sequence[Tensor]) -> set[int]:
    """ids of nodes that depend on any of ``sources`` (sources included)."""
    dep = {id(s) for s in sources}
    for n in order:
        if id(n) not in dep and any(id(i) in dep for i in n.inputs):
            dep.add(id(n))
    return dep


def _output_groups(order: list[Tensor]) -> dict[int, list[Tensor]]:
    """For ops with several results as sibling nodes (``OpDef.multi_vjp``): id of each
    group's first node in ``order`` -> the group's nodes."""
    first: dict[tuple, list[Tensor]] = {}
    groups: dict[int, list[Tensor]] = {}
    for n in order:
        if OPS[n.op].multi_vjp is None:
            continue
        key = (n.op, tuple(id(i) for i in n.inputs),
               tuple((k, v) for k, v in n.attrs if k != "output"))
        members = first.get(key)
        if members is None:
            members = first[key] = []
            groups[id(n)] = members
        members.append(n)
    return groups


def grad(y: Tensor, wrt, seed=None, allow_unused: bool = True):
    """Reverse-mode gradient of ``y`` with respect to ``wrt`` (one tensor or a list).

    ``seed`` is the vector of the vector-Jacobian product (required when ``y`` is
    not a scalar, like ``E.backward(gradient=...)`` in PyTorch); it must have ``y``'s
    shape or broadcast to it. ``wrt`` may be placeholders, parameters or intermediate
    tensors (an intermediate is treated as an independent input). Contributions from
    several uses of a node are summed. A ``wrt`` that ``y`` does not depend on gets
    zeros of its shape (or a ``GradError`` with ``allow_unused=False``); an integer
    ``wrt`` is a ``GradError``.

    >>> import graphc as gc
    >>> a = gc.parameter("a", [2., 4.])
    >>> da = gc.grad(3*a**3, a, seed=gc.constant([1., 1.]))
    >>> gc.expr(da), gc.evaluate(da)
    (9*a**2, array([ 36., 144.], dtype=float32))
    >>> gc.expr(gc.grad(da, a, seed=gc.constant([1., 1.])))   # second derivative
    18*a
    >>> gc.evaluate(gc.grad(gc.maximum(a, 2.0), a, seed=[1., 1.]))  # tie at a = 2
    array([0.5, 1. ], dtype=float32)
    """
    # many nodes, no cycles: the collector only costs here; every node of the gradient
    # comes from the user's grad call (looked up once, not per node)
    with collector_paused(), built_at(build_site.location or user_location()):
        return _grad(y, wrt, seed, allow_unused)


def _grad(y: Tensor, wrt, seed, allow_unused: bool):
    if not isinstance(y, Tensor):
        raise GradError(f"grad: y must be a Tensor, got {type(y).__name__} ({user_location()})")
    single = isinstance(wrt, Tensor)
    wrts = as_list(wrt)
    for w in wrts:
        _check_float(w, "grad")
    _check_float(y, "grad")
    if seed is None:
        if y.dims != ():
            raise GradError(f"grad: y has shape {format_shape(y.dims)}, not a scalar; pass "
                            f"seed= (a tensor of that shape, as in backward(gradient=...)) "
                            f"({user_location()})")
        seed = A.constant(1, y.dtype)
    else:
        seed = A.lift([seed, y])[0]  # Python data takes y's dtype (weak typing)
        fitted = _fit(seed, y.dims)
        if fitted is None:
            raise GradError(f"grad: seed of shape {format_shape(seed.dims)} does not match "
                            f"y of shape {format_shape(y.dims)} ({user_location()})")
        seed = fitted
        if seed.dtype != y.dtype:
            seed = A.cast(seed, y.dtype)

    order = topo_order([y])
    depends = _dependents(order, wrts)
    cot: dict[int, Tensor] = {id(y): seed}
    wanted = {id(w) for w in wrts}
    groups = _output_groups(order)
    for n in reversed(order):
        g: Tensor | dict | None = cot.get(id(n))
        op = OPS[n.op]
        if op.multi_vjp is not None and id(n) in depends:
            # one node per result of a loop: one backward loop for the whole group, built
            # at its first member in topological order (all members' cotangents are final)
            members = groups.get(id(n))
            g = None if members is None else {
                m.attr("output"): cot[id(m)] for m in members if id(m) in cot}
        if g is None or g == {} or id(n) not in depends or not n.inputs:
            continue
        if id(n) in wanted and not any(id(i) in depends for i in n.inputs):
            continue
        if not op.differentiable:
            continue
        if op.multi_vjp is not None:
            grads = op.multi_vjp(n, g)
        elif op.partials is not None:
            assert isinstance(g, Tensor)
            parts = op.partials(n)
            grads = [None if p is None or id(i) not in depends
                     else unbroadcast(_scale(g, p), i.dims)
                     for i, p in zip(n.inputs, parts)]
        else:
            assert op.vjp is not None  # every differentiable op declares partials or a vjp
            grads = op.vjp(n, g)
        for inp, gi in zip(n.inputs, grads):
            if gi is None or id(inp) not in depends or inp.dtype.kind != "f":
                continue
            if gi.dtype != inp.dtype:
                gi = A.cast(gi, inp.dtype)
            prev = cot.get(id(inp))
            cot[id(inp)] = gi if prev is None else _add(prev, gi)

    results = []
    for w in wrts:
        g = cot.get(id(w))
        if g is None:
            if not allow_unused:
                raise GradError(f"grad: y does not depend on {w.name or w.op!r} "
                                f"({user_location()})")
            g = _zeros(w)
        results.append(g)
    return results[0] if single else results


def jvp(y, wrt, tangents):
    """Forward-mode derivative: the change of ``y`` along ``tangents`` at ``wrt``.

    ``y`` may be a tensor or a list; ``wrt``/``tangents`` a tensor or matching lists.

    >>> import graphc as gc
    >>> x = gc.parameter("x", [1., 2.])
    >>> gc.evaluate(gc.jvp(x * x, x, gc.constant([1., 0.])))
    array([2., 0.], dtype=float32)
    """
    single_y = isinstance(y, Tensor)
    ys = as_list(y)
    wrts = as_list(wrt)
    # one wrt tensor takes one tangent, which may be data (an array, a list of numbers)
    ts = [tangents] if isinstance(wrt, Tensor) else as_list(tangents)
    if len(wrts) != len(ts):
        raise GradError(f"jvp: {len(wrts)} wrt tensors but {len(ts)} tangents "
                        f"({user_location()})")
    tan: dict[int, Tensor] = {}
    for w, t in zip(wrts, ts):
        _check_float(w, "jvp")
        t = A.lift([t, w])[0]  # Python data takes w's dtype (weak typing)
        fitted = _fit(t, w.dims)
        if fitted is None:
            raise GradError(f"jvp: tangent of shape {format_shape(t.dims)} does not match "
                            f"{w.name or w.op!r} of shape {format_shape(w.dims)} "
                            f"({user_location()})")
        t = fitted
        tan[id(w)] = A.cast(t, w.dtype)
    for n in topo_order(ys):
        if id(n) in tan or not n.inputs:
            continue
        ins = [tan.get(id(i)) for i in n.inputs]
        if all(t is None for t in ins):
            continue
        op = OPS[n.op]
        if not op.differentiable:
            continue
        if op.partials is not None:
            terms = [_scale(t, p) for t, p in zip(ins, op.partials(n))
                     if t is not None and p is not None]
            if not terms:
                continue
            out = terms[0]
            for t in terms[1:]:
                out = _add(out, t) if t.dims == out.dims else out + t
            if out.dims != n.dims:
                out = A.broadcast_to(out, n.dims)
        else:
            assert op.jvp is not None  # every differentiable op declares partials or a jvp
            out = op.jvp(n, ins)
            if out is None:
                continue
        tan[id(n)] = A.cast(out, n.dtype) if n.dtype.kind == "f" else out
    results = [tan.get(id(o)) if id(o) in tan else _zeros(o) for o in ys]
    return results[0] if single_y else results


def hvp(y: Tensor, wrt, v):
    """Hessian-vector product of scalar ``y``: ``d/dwrt (grad(y, wrt) . v)``.

    >>> import graphc as gc
    >>> x = gc.parameter("x", [1., 2.])
    >>> gc.evaluate(gc.hvp(gc.sum(x ** 3), x, gc.constant([1., 1.])))
    array([ 6., 12.], dtype=float32)
    """
    single = isinstance(wrt, Tensor)
    wrts = as_list(wrt)
    vs = [v] if isinstance(wrt, Tensor) else as_list(v)
    if len(wrts) != len(vs):
        raise GradError(f"hvp: {len(wrts)} wrt tensors but {len(vs)} vectors ({user_location()})")
    gs = grad(y, wrts)
    dot: Tensor | None = None
    for g, vec in zip(gs, vs):
        term = A.sum(g * vec)
        dot = term if dot is None else dot + term
    if dot is None:
        raise GradError(f"hvp: needs at least one wrt tensor ({user_location()})")
    out = grad(dot, wrts)
    return out[0] if single else out
